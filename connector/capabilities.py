"""What a platform said it can do (a capability probe's answer), kept in the ledger for an hour.

A `poll` process is short-lived: without this, each one would ask the store again (WooCommerce's
OPTIONS probe for `modified_after`) before its one listing. The answer is stored with the time it
was asked; a process whose ledger holds one younger than `FRESH` uses it and sends no probe.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Field, SQLModel, select

from connector.errors import LedgerUnavailable
from connector.ledger import UTCDateTime, _insert, _time, utcnow

if TYPE_CHECKING:
    from connector.ledger import Ledger

_ = UTCDateTime  # the column type the migration names

#: how long a probe's answer is trusted (a store upgraded meanwhile is seen within that)
FRESH = timedelta(hours=1)


class Capability(SQLModel, table=True):
    __tablename__ = "capabilities"

    source: str = Field(primary_key=True)
    store: str = Field(primary_key=True)
    name: str = Field(primary_key=True)  # e.g. "modified_after"
    value: str  # what the probe told, e.g. "true" / "false"
    checked_at: datetime | None = _time()  # when the platform was asked


class Capabilities:
    """One store's remembered capabilities, on a ledger's engine. Never raises for ledger trouble:
    a cache that cannot be read or written only means the probe is asked again."""

    def __init__(self, ledger: Ledger, source: str, store: str) -> None:
        self.ledger = ledger
        self.source = source
        self.store = store

    def get(self, name: str, *, now: datetime | None = None) -> str | None:
        """The value asked less than `FRESH` ago, or None (never asked, too old, or unreadable)."""
        now = now or utcnow()
        try:
            with self.ledger.read() as s:
                row = s.exec(select(Capability).where(
                    Capability.source == self.source, Capability.store == self.store,
                    Capability.name == name)).first()
        except (LedgerUnavailable, OperationalError):
            return None
        if row is None or row.checked_at is None or not now - FRESH < row.checked_at <= now:
            return None
        return row.value

    def put(self, name: str, value: str, *, now: datetime | None = None) -> None:
        """Remember `value` as asked `now` (replacing an older answer)."""
        now = now or utcnow()
        try:
            with self.ledger.write() as s:
                dialect = s.get_bind().dialect.name
                statement = _insert(dialect, Capability).values(
                    source=self.source, store=self.store, name=name, value=value, checked_at=now)
                s.exec(statement.on_conflict_do_update(
                    index_elements=["source", "store", "name"], set_={"value": value, "checked_at": now}))
        except (LedgerUnavailable, IntegrityError, OperationalError):
            pass  # asked again by the next process
