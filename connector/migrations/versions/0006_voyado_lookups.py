"""lookups and order_lookups: each customer's loyalty look-up (Voyado) and which orders it serves; rate_limits:
the look-ups' limiter, shared by every process on the ledger.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from connector.ledger import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lookups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("answer", sa.String(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("loyalty", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("first_failed_at", UTCDateTime(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("fetched_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service", "key", name="uq_lookup"),
    )
    op.create_index("ix_lookup_due", "lookups", ["service", "state", "next_attempt_at"])
    op.create_table(
        "order_lookups",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("store", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("lookup_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("source", "store", "order_id"),
    )
    op.create_index("ix_order_lookup", "order_lookups", ["lookup_id"])
    op.create_table(
        "rate_limits",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
    op.drop_index("ix_order_lookup", table_name="order_lookups")
    op.drop_table("order_lookups")
    op.drop_index("ix_lookup_due", table_name="lookups")
    op.drop_table("lookups")
