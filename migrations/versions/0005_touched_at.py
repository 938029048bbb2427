"""Liveness of a media item's work, for the stuck-work sweep.

``videos.touched_at``: when a stage last wrote to the item (queued, a frame batch, a read, the roll-up);
``videos.requeues``: how many times the sweep queued it again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "videos",
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.add_column("videos", sa.Column("requeues", sa.Integer, nullable=False, server_default="0"))
    # the sweep looks only at unfinished items
    op.create_index(
        "ix_videos_unfinished_touched",
        "videos",
        ["touched_at"],
        postgresql_where=sa.text("status IN ('queued', 'processing', 'finalizing')"),
    )


def downgrade() -> None:
    op.drop_index("ix_videos_unfinished_touched", table_name="videos")
    op.drop_column("videos", "requeues")
    op.drop_column("videos", "touched_at")
