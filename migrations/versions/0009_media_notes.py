"""What a person should know about how a media item was read (``videos.notes``: damaged spans that
could not be decoded, which of several video streams was read) and the video stream chosen at upload.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "videos",
        sa.Column("notes", postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    op.add_column("videos", sa.Column("video_stream", sa.Integer, nullable=True))  # null: the first


def downgrade() -> None:
    op.drop_column("videos", "video_stream")
    op.drop_column("videos", "notes")
