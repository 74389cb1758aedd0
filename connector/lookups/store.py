"""The look-ups in the ledger: one `Lookup` row per service and normalised e-mail, `OrderLookup` links.

An order is linked in the transaction that enqueues it (`link`, a `Ledger.enqueue_hooks` hook), so no
delivery pass can see its delivery before it knows the order waits for a look-up. A look-up answered less
than a day ago (`FRESH_FOR`) is reused; an older one is due again. Look-ups are claimed like deliveries
(`sending`, a lease, SKIP LOCKED on PostgreSQL), so two instances never ask twice for one e-mail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from connector.ledger import LOOKUP_DONE, Ledger, Lookup, OrderLookup, _insert, process_token, utcnow
from connector.orders import Loyalty, Order
from connector.redaction import redact

DUE, SENDING, DONE = "due", "sending", LOOKUP_DONE


@dataclass(frozen=True)
class Claimed:
    id: int
    key: str
    attempts: int
    first_failed_at: datetime | None


def linker(service: str, key_of: Callable[[Order], str], fresh_for: float) -> Callable[[Session, Order, datetime], None]:
    """The enqueue hook: link the order to its customer's look-up, due now unless answered within `fresh_for`."""

    def link(s: Session, order: Order, now: datetime) -> None:
        key = key_of(order)
        if not key:
            return
        dialect = s.get_bind().dialect.name
        s.connection().execute(_insert(dialect, Lookup).values(
            service=service, key=key, state=DUE, attempts=0, created_at=now, updated_at=now, next_attempt_at=now,
        ).on_conflict_do_nothing(index_elements=["service", "key"]))
        row = s.exec(select(Lookup).where(Lookup.service == service, Lookup.key == key).with_for_update()).one()
        if row.state == DONE and (row.fetched_at is None or row.fetched_at <= now - timedelta(seconds=fresh_for)):
            row.state, row.next_attempt_at, row.attempts, row.first_failed_at, row.updated_at = DUE, now, 0, None, now
            s.add(row)
        s.connection().execute(_insert(dialect, OrderLookup).values(
            source=order.source, store=order.store, order_id=order.id, lookup_id=row.id, linked_at=now,
        ).on_conflict_do_update(index_elements=["source", "store", "order_id"],
                                set_={"lookup_id": row.id, "linked_at": now}))

    return link


def claim(ledger: Ledger, service: str, limit: int, *, lease: float, now: datetime | None = None) -> list[Claimed]:
    """Up to `limit` due look-ups into `sending`, oldest first; a `sending` one whose lease ran out is due again."""
    now = now or utcnow()
    with ledger.write() as s:
        rows = s.exec(select(Lookup).where(
            Lookup.service == service,
            or_(col(Lookup.state) == DUE, (col(Lookup.state) == SENDING) & (col(Lookup.lease_until) < now)),
            or_(col(Lookup.next_attempt_at).is_(None), col(Lookup.next_attempt_at) <= now))
            .order_by(col(Lookup.next_attempt_at), col(Lookup.id)).limit(limit)
            .with_for_update(skip_locked=True)).all()
        claimed = []
        for row in rows:
            row.state, row.attempts, row.updated_at = SENDING, row.attempts + 1, now
            row.lease_until, row.claimed_by = now + timedelta(seconds=lease), process_token()
            s.add(row)
            claimed.append(Claimed(row.id or 0, row.key, row.attempts, row.first_failed_at))
        return claimed


def record(ledger: Ledger, lookup_id: int, *, loyalty: Loyalty | None, answer: str, status_code: int | None,
           next_attempt_at: datetime | None = None, failing: bool = False, uncount: bool = False,
           now: datetime | None = None) -> None:
    """A final answer (`loyalty`: done, reused for a day), or the look-up due again at `next_attempt_at`."""
    now = now or utcnow()
    with ledger.write() as s:
        row = s.get(Lookup, lookup_id)
        if row is None:
            return
        row.answer, row.status_code, row.updated_at = redact(answer)[:300], status_code, now
        row.lease_until = row.claimed_by = None
        if uncount:
            row.attempts = max(0, row.attempts - 1)
        if loyalty is not None:
            row.state, row.outcome, row.loyalty = DONE, loyalty.outcome, loyalty.model_dump_json()
            row.fetched_at, row.next_attempt_at, row.first_failed_at = now, None, None
        else:
            row.state, row.next_attempt_at = DUE, next_attempt_at or now
            if failing and row.first_failed_at is None:
                row.first_failed_at = now
        s.add(row)


def release(ledger: Ledger, service: str) -> int:
    """This process's claimed look-ups become due again (a clean stop)."""
    with ledger.write() as s:
        result = s.exec(update(Lookup).where(col(Lookup.service) == service, col(Lookup.state) == SENDING,
                                             col(Lookup.claimed_by) == process_token())
                        .values(state=DUE, lease_until=None, claimed_by=None))
        return result.rowcount or 0


def for_order(ledger: Ledger, source: str, store: str, order_id: str) -> Lookup | None:
    with ledger.read() as s:
        return s.exec(select(Lookup).join(OrderLookup, col(OrderLookup.lookup_id) == col(Lookup.id)).where(
            OrderLookup.source == source, OrderLookup.store == store, OrderLookup.order_id == order_id)).first()


def report(ledger: Ledger, service: str, now: datetime | None = None) -> dict[str, Any]:
    """`status`: look-ups by outcome (answered), and the backlog (due now, retrying later, in flight)."""
    now = now or utcnow()
    with ledger.read() as s:
        rows = s.exec(select(Lookup.state, Lookup.outcome, func.count()).where(Lookup.service == service)
                      .group_by(col(Lookup.state), col(Lookup.outcome))).all()
        due_now = s.exec(select(func.count()).where(
            Lookup.service == service, col(Lookup.state) == DUE,
            or_(col(Lookup.next_attempt_at).is_(None), col(Lookup.next_attempt_at) <= now))).one()
        oldest = s.exec(select(func.min(Lookup.updated_at)).where(
            Lookup.service == service, col(Lookup.state) != DONE)).one()
        waiting = s.exec(select(func.count()).select_from(OrderLookup).join(
            Lookup, col(Lookup.id) == col(OrderLookup.lookup_id)).where(
            Lookup.service == service, col(Lookup.state) != DONE)).one()
    outcomes: Counter[str] = Counter()
    states: Counter[str] = Counter()
    for state, outcome, count in rows:
        states[state] += count
        if state == DONE and outcome:
            outcomes[outcome] += count
    return {"outcomes": dict(outcomes), "done": states[DONE], "due": states[DUE], "in_flight": states[SENDING],
            "due_now": due_now, "retrying": states[DUE] - due_now, "orders_waiting": waiting,
            "oldest_since": oldest.isoformat(timespec="seconds") if oldest else None}


def due(ledger: Ledger, service: str) -> int:
    """Look-ups not answered yet (due now or later, or in flight)."""
    with ledger.read() as s:
        return int(s.exec(select(func.count()).where(Lookup.service == service, col(Lookup.state) != DONE)).one())
