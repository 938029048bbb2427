"""The change detector's safety floor per media item: every region re-read at least this often.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("videos", sa.Column("max_reuse_s", sa.Float, nullable=True))  # null: MAX_REUSE_S


def downgrade() -> None:
    op.drop_column("videos", "max_reuse_s")
