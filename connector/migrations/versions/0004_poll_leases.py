"""poll_leases: which instance polls each store (several instances on one ledger).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from connector.ledger import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poll_leases",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("store", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=True),
        sa.Column("taken_at", UTCDateTime(), nullable=True),
        sa.Column("renewed_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("source", "store"),
    )


def downgrade() -> None:
    op.drop_table("poll_leases")
