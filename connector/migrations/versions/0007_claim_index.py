"""deliveries: an index the claim query walks in order (destination, state, next_attempt_at, id).

It replaces ix_delivery_due, a prefix of it: each of the claim's queries is an equality on the first
two columns (and `next_attempt_at IS NULL`, or a range on it) ordered by what follows, so a claim
reads only the rows it takes, whatever the backlog.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_delivery_claim", "deliveries", ["destination", "state", "next_attempt_at", "id"])
    op.drop_index("ix_delivery_due", table_name="deliveries")


def downgrade() -> None:
    op.create_index("ix_delivery_due", "deliveries", ["destination", "state", "next_attempt_at"])
    op.drop_index("ix_delivery_claim", table_name="deliveries")
