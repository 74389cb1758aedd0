"""Alembic environment: runs on the connection `connector.migrations.upgrade` hands over."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import connector.ledger  # noqa: F401  (the tables, for autogenerate and comparisons)

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only run programmatically
    raise RuntimeError("connector's migrations run through connector.migrations.upgrade()")
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
