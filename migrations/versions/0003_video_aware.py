"""Video-aware OCR: sampling policy and filters per media item, skipped/partly read frames, text tracks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("videos", sa.Column("sampling", sa.String(20), nullable=False, server_default="fixed"))
    op.add_column("videos", sa.Column("scene_threshold", sa.Float, nullable=False, server_default="0.3"))
    op.add_column("videos", sa.Column("max_gap_s", sa.Float, nullable=False, server_default="2.0"))
    op.add_column("videos", sa.Column("filters", JSONB, nullable=False, server_default="{}"))
    op.add_column("videos", sa.Column("frames_skipped", sa.Integer, nullable=False, server_default="0"))
    op.add_column("videos", sa.Column("frames_partial", sa.Integer, nullable=False, server_default="0"))
    op.add_column("videos", sa.Column("tracks_count", sa.Integer, nullable=False, server_default="0"))
    # ref_index: the earlier frame this one repeats (bands = []) or updates in the given row bands.
    op.add_column("frames", sa.Column("ref_index", sa.Integer))
    op.add_column("frames", sa.Column("bands", JSONB))
    op.create_table(
        "text_tracks",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("video_id", sa.Integer, sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("agreement", sa.Float, nullable=False),
        sa.Column("readings", sa.Integer, nullable=False),
        sa.Column("best_frame_id", sa.BigInteger, sa.ForeignKey("frames.id", ondelete="CASCADE")),
        sa.Column("boxes", JSONB, nullable=False),
        sa.Column("x", sa.Integer, nullable=False),
        sa.Column("y", sa.Integer, nullable=False),
        sa.Column("w", sa.Integer, nullable=False),
        sa.Column("h", sa.Integer, nullable=False),
        sa.Column(
            "tsv",
            TSVECTOR,
            sa.Computed("to_tsvector('english'::regconfig, text)", persisted=True),
        ),
    )
    op.create_index("ix_text_tracks_video_model", "text_tracks", ["video_id", "model_version_id", "start_s"])
    op.create_index("ix_text_tracks_tsv", "text_tracks", ["tsv"], postgresql_using="gin")
    op.create_index(
        "ix_text_tracks_text_trgm",
        "text_tracks",
        ["text"],
        postgresql_using="gin",
        postgresql_ops={"text": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_table("text_tracks")
    op.drop_column("frames", "bands")
    op.drop_column("frames", "ref_index")
    for col in ("tracks_count", "frames_partial", "frames_skipped", "filters", "max_gap_s"):
        op.drop_column("videos", col)
    op.drop_column("videos", "scene_threshold")
    op.drop_column("videos", "sampling")
