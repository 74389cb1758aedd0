"""The ledger's schema, managed by Alembic: the scripts ship inside the package (no alembic.ini).

`upgrade(engine)` brings a ledger to the newest revision under a lock, so two processes starting
at once never both migrate: PostgreSQL's `pg_advisory_xact_lock`, SQLite's `BEGIN IMMEDIATE`.
A ledger written before migrations (its tables there, no `alembic_version`) is stamped at the
baseline — the schema of release 0.1.0 — and upgraded from there.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:  # alembic is imported when a ledger is to be migrated (or asked), not at every start
    from alembic.config import Config

BASELINE = "0001"
LOCK_KEY = 0x636F6E6E  # "conn": the advisory lock key of the schema migration
HERE = Path(__file__).resolve().parent
log = logging.getLogger("connector.ledger")
logging.getLogger("alembic").setLevel(logging.WARNING)  # its step-by-step INFO lines; ours says what was done


def config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config()).get_current_head() or BASELINE


_REVISION = re.compile(r'^(down_revision|revision)\s*=\s*["\']([^"\']+)["\']', re.MULTILINE)


def quick_head() -> str | None:
    """The newest revision as the scripts' `revision` / `down_revision` lines say, without importing alembic;
    None unless that is one clear head (then `head()` decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (HERE / "versions").glob("*.py"):
        found = dict(_REVISION.findall(script.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
            if "down_revision" in found:
                parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current(connection: Connection) -> str | None:
    """The ledger's revision; None when it has none (new, or written before migrations)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _stamped(connection: Connection) -> str | None:
    """`current` with one SELECT (no alembic import); None when there is no version table or not one row."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return str(rows[0]) if len(rows) == 1 else None


def revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return current(connection)


def upgrade(engine: Engine) -> str:
    """Bring the ledger to the newest revision; returns it. A no-op (a read) when it is already there."""
    quick = quick_head()
    if quick is not None:  # the usual start: already there, said by one SELECT, alembic never imported
        with engine.connect() as connection:
            if _stamped(connection) == quick:
                return quick
    from alembic import command

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
