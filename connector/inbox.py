"""The webhook inbox: events as they arrived (UNIQUE `event_id`), then processed by a job.

A webhook is stored in one short transaction and answered at once (connector.web); a job claims
due events (a lease, `FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), reads
the order from its platform with no transaction open, and then closes the event — for an order to
send, in the SAME transaction that enqueues it (`close_with_order`), so a crash between the two
repeats the read and never loses or doubles the order. Same engine, same rules as `connector.ledger`.

States: `waiting` (new, not read yet), `pending` (the platform said the order is not decided yet:
read again later), `retrying` (the read failed for a transient reason), and the closed ones: `done`
(the order is in the ledger), `rejected` (the platform rejected it), `ignored` (its status is not
one sent on, e.g. a later distribution stage), `failed` (the platform has no such order, refused the
read for good, or it stayed undecided).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Index, UniqueConstraint, func, or_
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Field, SQLModel, col, select

from connector.ledger import (
    ENQUEUE_TRIES,
    EnqueueResult,
    UTCDateTime,
    _insert,
    _local_process_gone,
    _time,
    concurrent_write,
    process_token,
    utcnow,
)
from connector.orders import Order, Rejected
from connector.redaction import redact

if TYPE_CHECKING:
    from connector.ledger import Ledger

_ = UTCDateTime  # the column type the migration names


class EventState(StrEnum):
    WAITING = "waiting"
    PENDING = "pending"
    RETRYING = "retrying"
    DONE = "done"
    REJECTED = "rejected"
    IGNORED = "ignored"
    FAILED = "failed"


OPEN_STATES = (EventState.WAITING, EventState.PENDING, EventState.RETRYING)


class InboxEvent(SQLModel, table=True):
    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("source", "event_id", name="uq_inbox_event"),
        Index("ix_inbox_due", "state", "next_attempt_at"),
        Index("ix_inbox_order", "source", "order_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str  # "sopost"
    event_id: str
    event: str = ""  # what the event said ("APPROVED"); the decision is taken on the order as read
    order_id: str
    activity_id: str = ""
    state: str = EventState.WAITING
    reason: str | None = None  # why it is in this state, in words
    order_status: str | None = None  # the order's status as last read
    attempts: int = 0
    next_attempt_at: datetime | None = _time()
    lease_until: datetime | None = _time()
    claimed_by: str | None = None
    received_at: datetime | None = _time()
    updated_at: datetime | None = _time()
    closed_at: datetime | None = _time()


@dataclass(frozen=True)
class Summary:
    counts: dict[str, int]
    oldest_waiting: datetime | None  # received time of the oldest event not read yet
    next_check: datetime | None  # when the next undecided order is read again


class Inbox:
    """The inbox operations on a ledger's engine (`Ledger.write`/`read`: the same locks and errors)."""

    def __init__(self, ledger: Ledger, source: str) -> None:
        self.ledger = ledger
        self.source = source

    def receive(self, event_id: str, event: str, order_id: str, activity_id: str, *, now: datetime | None = None) -> bool:
        """Store one event (one short transaction); False when its `event_id` is stored already."""
        now = now or utcnow()
        with self.ledger.write() as s:
            dialect = s.get_bind().dialect.name
            statement = _insert(dialect, InboxEvent).values(
                source=self.source, event_id=event_id, event=event, order_id=order_id, activity_id=activity_id,
                state=EventState.WAITING, attempts=0, received_at=now, updated_at=now,
            ).on_conflict_do_nothing(index_elements=["source", "event_id"])
            if dialect == "postgresql":
                return bool(s.connection().execute(statement.returning(InboxEvent.__table__.c.id)).all())  # type: ignore[attr-defined]
            return bool(s.exec(statement).rowcount)

    def claim(self, limit: int, *, lease: float, now: datetime | None = None) -> list[InboxEvent]:
        """Up to `limit` open events that are due (oldest first), leased to this process."""
        now = now or utcnow()
        with self.ledger.write() as s:
            rows = list(s.exec(
                select(InboxEvent)
                .where(InboxEvent.source == self.source, col(InboxEvent.state).in_(OPEN_STATES),
                       or_(col(InboxEvent.next_attempt_at).is_(None), col(InboxEvent.next_attempt_at) <= now),
                       or_(col(InboxEvent.lease_until).is_(None), col(InboxEvent.lease_until) <= now))
                .order_by(col(InboxEvent.id)).limit(limit)
                .with_for_update(skip_locked=True)
            ).all())
            for row in rows:
                row.attempts += 1
                row.lease_until = now + timedelta(seconds=lease)
                row.claimed_by = process_token()
                row.updated_at = now
                s.add(row)
        return rows

    def _update(self, s: Any, event_id: int, state: EventState, reason: str | None, *, order_status: str | None,
                next_attempt_at: datetime | None, now: datetime) -> None:
        row = s.get(InboxEvent, event_id)
        if row is None:
            return
        row.state, row.reason = state, redact(reason)[:2000] if reason else None
        row.order_status = order_status or row.order_status
        row.next_attempt_at = next_attempt_at
        row.lease_until = row.claimed_by = None
        row.updated_at = now
        if state not in OPEN_STATES:
            row.closed_at = now
        s.add(row)

    def later(self, event_id: int, state: EventState, reason: str, *, at: datetime, order_status: str | None = None,
              now: datetime | None = None) -> None:
        """Read the order again at `at` (`pending` or `retrying`)."""
        now = now or utcnow()
        with self.ledger.write() as s:
            self._update(s, event_id, state, reason, order_status=order_status, next_attempt_at=at, now=now)

    def close(self, event_id: int, state: EventState, reason: str, *, order_status: str | None = None,
              now: datetime | None = None) -> None:
        now = now or utcnow()
        with self.ledger.write() as s:
            self._update(s, event_id, state, reason, order_status=order_status, next_attempt_at=None, now=now)

    def close_with_order(self, event_id: int, order: Order | Rejected, store: str, destinations: Sequence[str], *,
                         skipped: Mapping[str, str] | None = None, now: datetime | None = None) -> EnqueueResult:
        """Enqueue the order and close the event `done`, in one transaction (run again, like `Ledger.enqueue`,
        when another process recorded the same order at the same moment)."""
        now = now or utcnow()
        for tries in range(1, ENQUEUE_TRIES + 1):
            try:
                with self.ledger.write() as s:
                    result = self.ledger.enqueue(self.source, store, [order], destinations, skipped=skipped, now=now,
                                                 session=s)
                    status = order.status if isinstance(order, Order) else None
                    reason = "order recorded" + (f"; {order.reason}" if isinstance(order, Rejected) else "")
                    self._update(s, event_id, EventState.DONE, reason, order_status=status, next_attempt_at=None, now=now)
                return result
            except (IntegrityError, OperationalError) as exc:
                if tries == ENQUEUE_TRIES or not concurrent_write(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def recover(self, now: datetime | None = None) -> int:
        """Events leased to a process of this host that is gone (killed mid-read) are free again at once."""
        now = now or utcnow()
        freed = 0
        with self.ledger.write() as s:
            for row in s.exec(select(InboxEvent).where(
                    InboxEvent.source == self.source, col(InboxEvent.state).in_(OPEN_STATES),
                    col(InboxEvent.claimed_by).is_not(None), col(InboxEvent.lease_until) > now)
                    .with_for_update(skip_locked=True)).all():
                if _local_process_gone(row.claimed_by):
                    row.lease_until = row.claimed_by = None
                    s.add(row)
                    freed += 1
        return freed

    def release(self, event_ids: Sequence[int]) -> None:
        """A clean stop: leases of events this process claimed but did not finish end now."""
        if not event_ids:
            return
        with self.ledger.write() as s:
            for row in s.exec(select(InboxEvent).where(col(InboxEvent.id).in_(list(event_ids)),
                                                       col(InboxEvent.claimed_by) == process_token())).all():
                row.lease_until = row.claimed_by = None
                s.add(row)

    # -- reading ---------------------------------------------------------------------------

    def first_received(self, order_id: str) -> datetime | None:
        with self.ledger.read() as s:
            return s.exec(select(func.min(InboxEvent.received_at)).where(
                InboxEvent.source == self.source, InboxEvent.order_id == order_id)).first()

    def events(self, order_id: str | None = None, state: str | None = None) -> list[InboxEvent]:
        with self.ledger.read() as s:
            statement = select(InboxEvent).where(InboxEvent.source == self.source)
            if order_id is not None:
                statement = statement.where(InboxEvent.order_id == order_id)
            if state is not None:
                statement = statement.where(InboxEvent.state == state)
            return list(s.exec(statement.order_by(col(InboxEvent.id))).all())

    def summary(self) -> Summary:
        with self.ledger.read() as s:
            counts = dict(s.exec(
                select(InboxEvent.state, func.count()).where(InboxEvent.source == self.source)
                .group_by(col(InboxEvent.state))).all())
            oldest = s.exec(select(func.min(InboxEvent.received_at)).where(
                InboxEvent.source == self.source, InboxEvent.state == EventState.WAITING)).first()
            upcoming = s.exec(select(func.min(InboxEvent.next_attempt_at)).where(
                InboxEvent.source == self.source, col(InboxEvent.state).in_(OPEN_STATES))).first()
        return Summary({state.value: counts.get(state.value, 0) for state in EventState}, oldest, upcoming)


def summaries(ledger: Ledger) -> dict[str, Summary]:
    """Per source with any inbox event: its `Summary` (for `status`)."""
    with ledger.read() as s:
        sources = list(s.exec(select(InboxEvent.source).distinct()).all())
    return {source: Inbox(ledger, source).summary() for source in sorted(sources)}
