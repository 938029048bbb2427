"""The media library: whether a failed item can be retried (``videos.retryable``: false when ffprobe
found no usable media in the file, so running it again cannot help).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "videos", sa.Column("retryable", sa.Boolean, nullable=False, server_default=sa.text("true"))
    )


def downgrade() -> None:
    op.drop_column("videos", "retryable")
