"""The OCR pool: frames waiting to be read, claimed in batches across media items by qocr tasks.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ocr_pending",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("frame_id", sa.BigInteger, sa.ForeignKey("frames.id", ondelete="CASCADE"), nullable=False),
        sa.Column("video_id", sa.Integer, sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "model_version_id",
            sa.Integer,
            sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        # one row per frame, model version and job (null: ingest), however often it is pooled
        sa.UniqueConstraint(
            "frame_id",
            "model_version_id",
            "job_id",
            name="uq_ocr_pending",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index("ix_ocr_pending_model", "ocr_pending", ["model_version_id", "id"])  # the claim's order
    op.create_index("ix_ocr_pending_item", "ocr_pending", ["video_id", "job_id"])
    op.create_table(
        "ocr_attempts",
        sa.Column(
            "pending_id", sa.BigInteger, sa.ForeignKey("ocr_pending.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_table(
        "ocr_wakeups",
        sa.Column(
            "model_version_id",
            sa.Integer,
            sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("woken_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("ocr_wakeups")
    op.drop_table("ocr_attempts")
    op.drop_table("ocr_pending")
