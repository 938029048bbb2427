"""Segment-parallel extraction: a long video's time ranges, each extracted by its own qextract task.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "video_segments",
        sa.Column("video_id", sa.Integer, sa.ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float),
        sa.Column("status", sa.String(20), nullable=False, server_default="queued"),
        sa.Column("frames", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("report", JSONB, nullable=False, server_default="{}"),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    # the sweep looks for running segments not touched lately
    op.create_index("ix_video_segments_status", "video_segments", ["status", "touched_at"])


def downgrade() -> None:
    op.drop_table("video_segments")
