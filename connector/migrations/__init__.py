"""The ledger's schema, managed by Alembic: the scripts ship inside the package (no alembic.ini).

`upgrade(engine)` brings a ledger to the newest revision under a lock, so two processes starting
at once never both migrate: PostgreSQL's `pg_advisory_xact_lock`, SQLite's `BEGIN IMMEDIATE`.
A ledger written before migrations (its tables there, no `alembic_version`) is stamped at the
baseline — the schema of release 0.1.0 — and upgraded from there.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

BASELINE = "0001"
LOCK_KEY = 0x636F6E6E  # "conn": the advisory lock key of the schema migration
HERE = Path(__file__).resolve().parent
log = logging.getLogger("connector.ledger")
logging.getLogger("alembic").setLevel(logging.WARNING)  # its step-by-step INFO lines; ours says what was done


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(config()).get_current_head() or BASELINE


def current(connection: Connection) -> str | None:
    """The ledger's revision; None when it has none (new, or written before migrations)."""
    return MigrationContext.configure(connection).get_current_revision()


def revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return current(connection)


def upgrade(engine: Engine) -> str:
    """Bring the ledger to the newest revision; returns it. A no-op (a read) when it is already there."""
    target = head()
    with engine.connect() as connection:  # a read first: `status` must work while another process writes
        if current(connection) == target:
            return target
    writer = engine.execution_options(immediate=True)  # BEGIN IMMEDIATE on SQLite
    with writer.connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        found = current(connection)  # again, under the lock: another process may have done it meanwhile
        if found != target:
            cfg = config(connection)
            if found is None and inspect(connection).has_table("deliveries"):
                command.stamp(cfg, BASELINE)  # a ledger of release 0.1.0
                found = f"{BASELINE} (a ledger written before migrations)"
            command.upgrade(cfg, "head")
            if found is not None:  # a new ledger is simply created; an existing one's upgrade is told
                log.info("ledger schema upgraded from revision %s to %s", found, target)
    return target
