"""The ledger: SQLite or PostgreSQL (through SQLModel) as a transactional outbox; schema by Alembic.

One row per (source, store, order id, destination) — the UNIQUE constraint is what keeps an
order from being sent twice. The order snapshot is stored once so retries never need the
platform again. The poll cursor advances in the same transaction as the orders it covers.
Write transactions start with BEGIN IMMEDIATE on SQLite; claims take rows FOR UPDATE SKIP LOCKED on
PostgreSQL, so two processes never claim the same delivery. No transaction is held across an HTTP call:
rows are claimed (`sending`, with a lease), committed, sent, then recorded.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, Index, UniqueConstraint, and_, event, func, or_, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from connector import migrations
from connector.errors import BadInput, DatabaseDown, LedgerUnavailable
from connector.orders import Loyalty, Order, Rejected
from connector.redaction import redact


class State(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    RETRYING = "retrying"
    DEAD = "dead"
    SKIPPED = "skipped"


DUE_STATES = (State.PENDING, State.RETRYING)
UNDELIVERED_STATES = (State.PENDING, State.SENDING, State.RETRYING)
MALFORMED = "malformed order"
READ_AGAIN = "could not read order details"  # how an order's error starts while it waits to be read again


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without an offset (SQLite has no tz) and gives back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _time(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class OrderRecord(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("source", "store", "order_id", name="uq_order"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str
    store: str
    order_id: str
    number: str = ""
    status: str = ""
    content_hash: str = ""
    data: str = ""  # canonical Order JSON; the raw platform JSON when the order is malformed
    error: str | None = None  # why the order could not be read, when it could not
    modified_at: datetime | None = _time()
    first_seen_at: datetime | None = _time()
    updated_at: datetime | None = _time()


class Delivery(SQLModel, table=True):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("source", "store", "order_id", "destination", name="uq_delivery"),
        Index("ix_delivery_due", "destination", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str
    store: str
    order_id: str
    destination: str
    state: str = State.PENDING
    reason: str | None = None  # why it is in this state, in words
    attempts: int = 0
    ambiguous_attempts: int = 0  # timeouts after the request was sent
    next_attempt_at: datetime | None = _time()
    first_failed_at: datetime | None = _time()  # first transient/ambiguous failure since the last success or `retry`
    lease_until: datetime | None = _time()
    claimed_by: str | None = None
    last_attempt_at: datetime | None = _time()
    status_code: int | None = None  # the destination's last HTTP status
    reference: str | None = None  # the destination's id for the record
    message: str | None = None  # the destination's own words
    response: str | None = None  # the destination's answer body (redacted, truncated)
    created_at: datetime | None = _time()
    updated_at: datetime | None = _time()
    delivered_at: datetime | None = _time()


class Attempt(SQLModel, table=True):
    """One answer (or failure) of one delivery attempt, kept so that `show` can tell an order's whole story."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempt_delivery", "delivery_id"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int
    at: datetime | None = _time()
    state: str = ""  # the state the delivery went to
    status_code: int | None = None
    message: str | None = None  # the destination's words, or ours when nothing was sent (redacted)


class Cursor(SQLModel, table=True):
    __tablename__ = "cursors"

    source: str = Field(primary_key=True)
    store: str = Field(primary_key=True)
    name: str = Field(primary_key=True, default="live")  # "live", or "backfill <since>..<until>"
    position: datetime | None = _time()
    last_poll_at: datetime | None = _time()
    last_poll_seen: int = 0
    last_poll_enqueued: int = 0
    last_error: str | None = None
    done: bool = False


class PollLease(SQLModel, table=True):
    """Which instance polls a store: one at a time; the others only deliver (several instances, one ledger)."""

    __tablename__ = "poll_leases"

    source: str = Field(primary_key=True)
    store: str = Field(primary_key=True)
    holder: str | None = None  # process_token() of the instance that polls it (kept after release: the last one)
    taken_at: datetime | None = _time()  # when that instance took the poll over
    renewed_at: datetime | None = _time()  # when it last started a poll
    expires_at: datetime | None = _time()  # free from then on: a crashed holder's lease runs out; a clean stop ends it


class Lookup(SQLModel, table=True):
    """One customer look-up (connector.lookups): one row per service and normalised key (the e-mail), its answer."""

    __tablename__ = "lookups"
    __table_args__ = (
        UniqueConstraint("service", "key", name="uq_lookup"),
        Index("ix_lookup_due", "service", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    service: str  # "voyado"
    key: str  # the normalised e-mail (trimmed, lower-cased)
    state: str = "due"  # due (to look up, or again) | sending (claimed) | done (answered; reused for a day)
    outcome: str | None = None  # the last answer's class: member, not_member, multiple_matches, refused, failed
    answer: str | None = None  # the service's word for it ("ContactNotFound") or our reason (redacted)
    status_code: int | None = None
    loyalty: str | None = None  # the kept fields (orders.Loyalty JSON), nothing else of the answer
    attempts: int = 0
    next_attempt_at: datetime | None = _time()
    first_failed_at: datetime | None = _time()
    lease_until: datetime | None = _time()
    claimed_by: str | None = None
    fetched_at: datetime | None = _time()  # when the last answer came
    created_at: datetime | None = _time()
    updated_at: datetime | None = _time()


class OrderLookup(SQLModel, table=True):
    """Which look-up an order's customer has: a delivery that carries it waits for it (at most VOYADO_WAIT)."""

    __tablename__ = "order_lookups"
    __table_args__ = (Index("ix_order_lookup", "lookup_id"),)

    source: str = Field(primary_key=True)
    store: str = Field(primary_key=True)
    order_id: str = Field(primary_key=True)
    lookup_id: int
    linked_at: datetime | None = _time()


class RateLimit(SQLModel, table=True):
    """A shared rate limiter's state (connector.lookups.limiter): every process and instance on this ledger uses one."""

    __tablename__ = "rate_limits"

    name: str = Field(primary_key=True)  # "voyado"
    state: str = ""  # the algorithm's numbers (GCRA: the theoretical arrival time, µs since the epoch), JSON
    updated_at: datetime | None = _time()


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    order: Order
    attempts: int
    first_failed_at: datetime | None = None


@dataclass(frozen=True)
class Backlog:
    """A destination's undelivered rows: how many, the oldest, and since when they have been failing."""

    count: int
    oldest_since: datetime | None
    failing_since: datetime | None


SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL = 5, 6, 10, 13  # primary result codes (sqlite3.h)
NEARLY_FULL = 1 << 20  # bytes: an I/O error with less than this free is the full disk's doing


def unavailable_kind(exc: BaseException, path: str | None = None) -> str | None:
    """"locked" or "full" when `exc` says the SQLite ledger is write-locked or its disk is full, else None.

    SQLite reports a full disk as SQLITE_FULL when a write runs out of room, but as a plain "disk
    I/O error" when opening the WAL's shared memory does: with `path`, that counts as full when the
    file system holding it has (nearly) no room left.
    """
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "full"
    orig = exc.orig if isinstance(exc, OperationalError) else exc
    code = getattr(orig, "sqlite_errorcode", None)
    if code is None:
        return None
    if code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED):
        return "locked"
    if code & 0xFF == SQLITE_FULL:
        return "full"
    if code & 0xFF == SQLITE_IOERR and path:
        try:
            return "full" if shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free < NEARLY_FULL else None
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class EnqueueResult:
    seen: int
    new_orders: int
    new_deliveries: int
    requeued: int
    rejected: int
    unread: int = 0  # orders to read again (`Rejected.transient`)


def process_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _local_process_gone(token: str | None) -> bool:
    if not token or ":" not in token:
        return True
    host, _, pid = token.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


ENQUEUE_TRIES = 3  # runs of a page's transaction that another process's concurrent recording of its orders may cost
BUSY_TIMEOUT = 30.0  # seconds a write waits for another process's lock; `?timeout=N` in a sqlite URL sets it


def make_engine(url: str) -> Engine:
    is_sqlite = url.startswith("sqlite")
    busy = float(make_url(url).query.get("timeout", BUSY_TIMEOUT)) if is_sqlite else BUSY_TIMEOUT  # type: ignore[arg-type]
    if is_sqlite:
        engine = create_engine(url, connect_args={"timeout": busy, "check_same_thread": False})
    else:  # a server: give up connecting after 10 s unless the URL says otherwise; drop dead pooled connections
        query = make_url(url).query
        engine = create_engine(url, pool_pre_ping=True,
                               connect_args={} if "connect_timeout" in query else {"connect_timeout": 10})
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


DATABASE_URL = "CONNECTOR_DATABASE_URL"


class DatabaseUnreachable(BadInput):
    """The database server cannot be reached or refuses us (wrong password, no such database): a setting to fix."""

    def __init__(self, url: str, exc: BaseException) -> None:
        why = redact(getattr(exc, "orig", None) or exc).strip().splitlines()
        super().__init__(f"cannot connect to the ledger database {DATABASE_URL}={redact(url)}: "
                         f"{why[0] if why else type(exc).__name__}")


#: what a database server says when it is not (yet) there: worth a restart, unlike a refused login
_DOWN = ("connection refused", "timeout expired", "timed out", "could not connect", "the database system is starting up",
         "the database system is shutting down", "server closed the connection", "no route to host",
         "network is unreachable", "could not translate host name", "name or service not known")


class Ledger:
    def __init__(self, url: str) -> None:
        self.url = url
        self.path = (make_url(url).database or url) if url.startswith("sqlite") else redact(url)
        self.engine = make_engine(url)
        self._writer = self.engine.execution_options(immediate=True)
        #: called for each new or changed readable order inside `enqueue`'s transaction (session, order, now)
        self.enqueue_hooks: list[Callable[[Session, Order, datetime], None]] = []
        try:
            with self._unavailable_as_one_line():
                self.revision = migrations.upgrade(self.engine)  # under a lock; a read when already up to date
        except OperationalError as exc:
            self.engine.dispose()
            if url.startswith("sqlite"):
                raise
            text = str(getattr(exc, "orig", None) or exc).lower()
            if any(sign in text for sign in _DOWN):
                why = redact(getattr(exc, "orig", None) or exc).strip().splitlines()
                raise DatabaseDown(f"the ledger database does not answer at {DATABASE_URL}={redact(url)}: "
                                   f"{why[0] if why else type(exc).__name__} (is the server running? the service "
                                   "retries)") from exc
            raise DatabaseUnreachable(url, exc) from exc

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _unavailable_as_one_line(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, OSError) as exc:
            kind = unavailable_kind(exc, self.path)
            if kind is None:
                raise
            raise LedgerUnavailable(self.path, kind) from exc

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction (BEGIN IMMEDIATE on SQLite), committed on success.

        Raises LedgerUnavailable when another process holds the lock past the busy timeout or the
        disk is full; the transaction is then rolled back and nothing was written.
        """
        with self._unavailable_as_one_line(), Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._unavailable_as_one_line(), Session(self.engine, expire_on_commit=False) as session:
            yield session

    # -- polling ---------------------------------------------------------------------------

    def enqueue(
        self,
        source: str,
        store: str,
        orders: Sequence[Order | Rejected],
        destinations: Sequence[str],
        *,
        cursor: str | None = None,
        position: datetime | None = None,
        now: datetime | None = None,
        rewind: bool = False,
    ) -> EnqueueResult:
        """Record orders and one delivery per destination; advance `cursor` in the same transaction
        (`rewind`: to `position` even when it is earlier).

        Two processes may record the same new order at once (a poll and a backfill, on PostgreSQL, where
        nothing serialises them as BEGIN IMMEDIATE does on SQLite): the later one's INSERT waits for the
        other's commit and then breaks the UNIQUE key (or, each waiting for a row the other holds, one is
        chosen as a deadlock's victim). The whole transaction is then run again; it finds what the other recorded."""
        for tries in range(1, ENQUEUE_TRIES + 1):
            try:
                return self._enqueue(source, store, orders, destinations, cursor=cursor, position=position, now=now,
                                     rewind=rewind)
            except (IntegrityError, OperationalError) as exc:
                if tries == ENQUEUE_TRIES or not _concurrent_write(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _enqueue(self, source: str, store: str, orders: Sequence[Order | Rejected], destinations: Sequence[str], *,
                 cursor: str | None, position: datetime | None, now: datetime | None, rewind: bool) -> EnqueueResult:
        now = now or utcnow()
        new_orders = new_deliveries = requeued = rejected = unread = 0
        with self.write() as s:
            ids = {_order_id(order) for order in orders}
            known = {record.order_id: record for record in s.exec(select(OrderRecord).where(
                OrderRecord.source == source, OrderRecord.store == store, col(OrderRecord.order_id).in_(ids)))
            } if ids else {}  # one query for the page, not one per order
            for order in orders:
                record = known.get(_order_id(order))
                changed = hooked = False
                if isinstance(order, Rejected):
                    if record is None:
                        record = OrderRecord(source=source, store=store, order_id=order.order_id, number=order.number,
                                             data=order.raw, first_seen_at=now)
                        new_orders += 1
                    if order.transient:  # what the ledger holds (if anything) stays; no delivery until it is read
                        unread += 1
                        record.error = f"{READ_AGAIN}: {order.reason}; will read again at the next poll"
                    else:
                        rejected += 1
                        record.error = order.reason
                        record.modified_at = order.modified_at or record.modified_at
                    record.updated_at = now
                    s.add(record)
                else:
                    digest = order.content_hash()
                    if record is None:
                        record = OrderRecord(source=source, store=store, order_id=order.id, first_seen_at=now)
                        new_orders += 1
                        hooked = True
                    else:
                        changed = record.content_hash != digest
                        hooked = changed or bool(record.error)
                    record.number, record.status = order.number, order.status
                    record.content_hash, record.data, record.error = digest, order.model_dump_json(), None
                    record.modified_at, record.updated_at = order.modified_at, now
                    s.add(record)
                s.flush()
                known[record.order_id] = record
                if isinstance(order, Order) and hooked:
                    for hook in self.enqueue_hooks:  # in this transaction: e.g. the order's look-up (connector.lookups)
                        hook(s, order, now)
                for destination in () if isinstance(order, Rejected) and order.transient else destinations:
                    new_deliveries += self._insert_delivery(s, source, store, _order_id(order), destination, order, now)
                if changed:
                    # The order changed since we last saw it: what was skipped or refused may now go.
                    result = s.exec(
                        update(Delivery)
                        .where(col(Delivery.source) == source, col(Delivery.store) == store,
                               col(Delivery.order_id) == _order_id(order),
                               col(Delivery.state).in_([State.SKIPPED, State.DEAD]))
                        .values(state=State.PENDING, attempts=0, next_attempt_at=None, first_failed_at=None, updated_at=now,
                                reason="order changed on the platform; re-evaluating")
                    )
                    requeued += result.rowcount or 0
            if cursor is not None and position is not None:
                self._advance(s, source, store, cursor, position, rewind)
        return EnqueueResult(len(orders), new_orders, new_deliveries, requeued, rejected, unread)

    def to_read_again(self, source: str, store: str, limit: int = 25) -> list[str]:
        """Orders whose details could not be read (`Rejected.transient`), longest waiting first."""
        with self.read() as s:
            return list(s.exec(select(OrderRecord.order_id).where(
                OrderRecord.source == source, OrderRecord.store == store,
                col(OrderRecord.error).startswith(READ_AGAIN, autoescape=True))
                .order_by(col(OrderRecord.updated_at), col(OrderRecord.id)).limit(limit)).all())

    def forget(self, source: str, store: str, order_ids: Sequence[str]) -> None:
        """Orders no longer to be read again (gone from the store, or out of the configured statuses):
        one never read is dropped (it has no delivery); one read before keeps its last snapshot."""
        if not order_ids:
            return
        with self.write() as s:
            for record in s.exec(select(OrderRecord).where(
                    OrderRecord.source == source, OrderRecord.store == store, col(OrderRecord.order_id).in_(order_ids),
                    col(OrderRecord.error).startswith(READ_AGAIN, autoescape=True))).all():
                if record.content_hash:
                    record.error = None
                    s.add(record)
                else:
                    s.delete(record)

    def _insert_delivery(self, s: Session, source: str, store: str, order_id: str, destination: str,
                         order: Order | Rejected, now: datetime) -> int:
        values: dict[str, Any] = dict(source=source, store=store, order_id=order_id, destination=destination,  # noqa: C408
                                      state=State.PENDING, attempts=0, ambiguous_attempts=0, created_at=now, updated_at=now)
        if isinstance(order, Rejected):
            values.update(state=State.DEAD, reason=f"{MALFORMED}: {order.reason}")
        dialect = s.get_bind().dialect.name
        statement = _insert(dialect, Delivery).values(**values).on_conflict_do_nothing(
            index_elements=["source", "store", "order_id", "destination"]
        )
        if dialect == "postgresql":  # count what RETURNING gives back: rowcount is -1 there
            return len(s.connection().execute(statement.returning(Delivery.__table__.c.id)).all())  # type: ignore[attr-defined]
        return s.exec(statement).rowcount or 0

    def _advance(self, s: Session, source: str, store: str, name: str, position: datetime,
                 rewind: bool = False) -> None:
        row = s.get(Cursor, (source, store, name)) or Cursor(source=source, store=store, name=name)
        if row.position is None or position > row.position or rewind:
            row.position = position
        s.add(row)

    def cursor(self, source: str, store: str, name: str = "live") -> Cursor | None:
        with self.read() as s:
            return s.get(Cursor, (source, store, name))

    def advance(self, source: str, store: str, name: str, position: datetime, *, rewind: bool = False) -> None:
        with self.write() as s:
            self._advance(s, source, store, name, position, rewind)

    def record_poll(self, source: str, store: str, *, seen: int, enqueued: int, error: str | None,
                    name: str = "live", done: bool = False, now: datetime | None = None) -> None:
        with self.write() as s:
            row = s.get(Cursor, (source, store, name)) or Cursor(source=source, store=store, name=name)
            row.last_poll_at = now or utcnow()
            row.last_poll_seen, row.last_poll_enqueued = seen, enqueued
            row.last_error = redact(error) if error else None
            row.done = row.done or done
            s.add(row)

    # -- who polls which store ----------------------------------------------------------------

    def take_poll(self, source: str, store: str, *, ttl: float, now: datetime | None = None) -> tuple[bool, PollLease]:
        """Take (or renew) the poll of one store for `ttl` seconds; False with the holder's lease when
        another live instance holds it. Free when never taken, released, run out, or its holder is a
        gone process of this host."""
        now = now or utcnow()
        me = process_token()
        with self.write() as s:
            s.connection().execute(_insert(s.get_bind().dialect.name, PollLease).values(
                source=source, store=store).on_conflict_do_nothing(index_elements=["source", "store"]))
            row = s.exec(select(PollLease).where(PollLease.source == source, PollLease.store == store)
                         .with_for_update()).one()  # PostgreSQL: a row lock; SQLite: BEGIN IMMEDIATE already
            free = (row.holder in (None, me) or row.expires_at is None or row.expires_at <= now
                    or _local_process_gone(row.holder))
            if free:
                if row.holder != me or row.expires_at is None or row.expires_at <= now:
                    row.taken_at = now
                row.holder, row.renewed_at, row.expires_at = me, now, now + timedelta(seconds=ttl)
                s.add(row)
            return free, row

    def release_polls(self, now: datetime | None = None) -> int:
        """A clean stop: the stores this process polls are free for another instance at once."""
        now = now or utcnow()
        with self.write() as s:
            result = s.exec(update(PollLease).where(col(PollLease.holder) == process_token(),
                                                    col(PollLease.expires_at) > now).values(expires_at=now))
            return result.rowcount or 0

    def poll_leases(self) -> list[PollLease]:
        with self.read() as s:
            return list(s.exec(select(PollLease).order_by(col(PollLease.source), col(PollLease.store))).all())

    # -- delivering ------------------------------------------------------------------------

    def claim(self, destination: str, limit: int, *, lease: float, now: datetime | None = None,
              lookup_wait: float | None = None) -> list[Claim]:
        """Take up to `limit` due rows for `destination` into `sending`, oldest first.

        `lookup_wait` (a destination that carries the loyalty look-up): a row whose order's look-up is not done
        yet is not due until `lookup_wait` seconds after it was queued; the others are claimed meanwhile."""
        now = now or utcnow()
        claims: list[Claim] = []
        with self.write() as s:
            statement = (
                select(Delivery, OrderRecord)
                .join(OrderRecord, and_(col(OrderRecord.source) == col(Delivery.source),
                                        col(OrderRecord.store) == col(Delivery.store),
                                        col(OrderRecord.order_id) == col(Delivery.order_id)))
                .where(Delivery.destination == destination, col(Delivery.state).in_(DUE_STATES),
                       or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now)))
            if lookup_wait is not None:
                statement = statement.where(or_(~_waiting_for_lookup(), col(Delivery.created_at).is_(None),
                                                col(Delivery.created_at) <= now - timedelta(seconds=lookup_wait)))
            rows = s.exec(
                statement
                .order_by(col(Delivery.next_attempt_at).is_not(None), col(Delivery.next_attempt_at), col(Delivery.id))
                .limit(limit)
                .with_for_update(skip_locked=True, of=Delivery)  # PostgreSQL; SQLite's BEGIN IMMEDIATE serialises
            ).all()
            loyalty = _loyalty(s, [record for _, record in rows])
            for delivery, record in rows:
                if record.error is not None and not record.content_hash:
                    delivery.state, delivery.reason = State.DEAD, f"{MALFORMED}: {record.error}"
                    s.add(delivery)
                    continue
                delivery.state = State.SENDING
                delivery.attempts += 1
                delivery.last_attempt_at = delivery.updated_at = now
                delivery.lease_until = now + timedelta(seconds=lease)
                delivery.claimed_by = process_token()
                s.add(delivery)
                order = Order.model_validate_json(record.data)
                found = loyalty.get((record.source, record.store, record.order_id))
                if found is not None:
                    order = order.model_copy(update={"loyalty": Loyalty.model_validate_json(found)})
                claims.append(Claim(delivery.id or 0, order, delivery.attempts, delivery.first_failed_at))
        return claims

    def record(self, delivery_id: int, state: State, *, reason: str | None = None, status_code: int | None = None,
               reference: str | None = None, message: str | None = None, response: str | None = None,
               next_attempt_at: datetime | None = None, failing: bool = False,
               ambiguous: int = 0, uncount: bool = False, now: datetime | None = None) -> None:
        """Record the outcome of one attempt (never raises on a vanished row).

        `failing`: a transient or ambiguous failure; the first one starts the retry horizon's clock.
        """
        now = now or utcnow()
        with self.write() as s:
            row = s.get(Delivery, delivery_id)
            if row is None:
                return
            row.state = state
            row.reason = redact(reason) if reason else None
            row.status_code = status_code
            if reference:
                row.reference = reference
            row.message = redact(message)[:2000] if message else None
            if response is not None:
                row.response = redact(response)[:2000]
            row.next_attempt_at = next_attempt_at
            row.lease_until = None
            row.claimed_by = None
            row.updated_at = now
            row.ambiguous_attempts += ambiguous
            if uncount:
                row.attempts = max(0, row.attempts - 1)
            if failing and row.first_failed_at is None:
                row.first_failed_at = now
            if state == State.DELIVERED:
                row.delivered_at = now
                row.first_failed_at = None
            s.add(row)
            s.add(Attempt(delivery_id=delivery_id, at=now, state=state, status_code=status_code,
                          message=row.message or row.reason))

    def recover(self, now: datetime | None = None) -> int:
        """Rows left in `sending` by a process that is gone (or whose lease ran out) become due again.

        Safe because every destination deduplicates on the platform order id.
        """
        now = now or utcnow()
        recovered = 0
        with self.write() as s:
            rows = s.exec(select(Delivery).where(Delivery.state == State.SENDING)
                          .with_for_update(skip_locked=True)).all()  # another instance recovering takes the others
            for row in rows:
                if (row.lease_until is not None and row.lease_until < now) or _local_process_gone(row.claimed_by):
                    row.state = State.RETRYING
                    row.reason = "interrupted while sending (crash or kill); resending with the same order id"
                    row.ambiguous_attempts += 1
                    row.next_attempt_at = now
                    row.lease_until = row.claimed_by = None
                    row.updated_at = now
                    s.add(row)
                    s.add(Attempt(delivery_id=row.id or 0, at=now, state=State.RETRYING, message=row.reason))
                    recovered += 1
        return recovered

    def requeue(self, *, destination: str | None = None, order_id: str | None = None, dead: bool = False,
                now: datetime | None = None) -> int:
        """`retry`: make retrying rows due now; with `dead`, give dead rows a fresh start too."""
        now = now or utcnow()
        states = [State.RETRYING] + ([State.DEAD] if dead else [])
        statement = update(Delivery).where(col(Delivery.state).in_(states))
        if destination:
            statement = statement.where(col(Delivery.destination) == destination)
        if order_id:
            statement = statement.where(col(Delivery.order_id) == order_id)
        with self.write() as s:
            result = s.exec(statement.values(state=State.PENDING, next_attempt_at=now, attempts=0,
                                             first_failed_at=None,  # a fresh retry horizon
                                             reason="re-queued by hand", updated_at=now))
            return result.rowcount or 0

    # -- reading ---------------------------------------------------------------------------

    def deliveries(self, **where: Any) -> list[Delivery]:
        with self.read() as s:
            statement = select(Delivery)
            for key, value in where.items():
                statement = statement.where(getattr(Delivery, key) == value)
            return list(s.exec(statement.order_by(col(Delivery.id))).all())

    def order(self, source: str, store: str, order_id: str) -> OrderRecord | None:
        with self.read() as s:
            return s.exec(select(OrderRecord).where(OrderRecord.source == source, OrderRecord.store == store,
                                                    OrderRecord.order_id == order_id)).first()

    def known(self, source: str, store: str, versions: Sequence[tuple[str, datetime]]) -> dict[tuple[str, datetime], Order]:
        """Of these (order id, platform modification time), the orders the ledger holds, readable, at exactly that
        time (one query for a page): a source need not read them again."""
        if not versions:
            return {}
        wanted = set(versions)
        with self.read() as s:
            records = s.exec(select(OrderRecord).where(
                OrderRecord.source == source, OrderRecord.store == store,
                col(OrderRecord.order_id).in_(sorted({order_id for order_id, _ in wanted})))).all()
        return {(r.order_id, r.modified_at): Order.model_validate_json(r.data) for r in records
                if r.error is None and r.content_hash and r.modified_at is not None and (r.order_id, r.modified_at) in wanted}

    def story(self, order_id: str, source: str | None = None) -> list[tuple[OrderRecord, list[tuple[Delivery, list[Attempt]]]]]:
        """`show`: every order with this platform id (or number), with its deliveries and their attempts."""
        with self.read() as s:
            statement = select(OrderRecord).where(or_(col(OrderRecord.order_id) == order_id,
                                                      col(OrderRecord.number) == order_id))
            if source:
                statement = statement.where(col(OrderRecord.source) == source)
            records = list(s.exec(statement.order_by(col(OrderRecord.source), col(OrderRecord.store))).all())
            result = []
            for record in records:
                deliveries = list(s.exec(select(Delivery).where(
                    Delivery.source == record.source, Delivery.store == record.store,
                    Delivery.order_id == record.order_id).order_by(col(Delivery.destination))).all())
                attempts: dict[int, list[Attempt]] = {d.id or 0: [] for d in deliveries}
                if attempts:
                    for attempt in s.exec(select(Attempt).where(col(Attempt.delivery_id).in_(list(attempts)))
                                          .order_by(col(Attempt.id))).all():
                        attempts[attempt.delivery_id].append(attempt)
                result.append((record, [(d, attempts[d.id or 0]) for d in deliveries]))
            return result

    def unreadable(self, limit: int = 10) -> dict[str, Any]:
        """Orders that could not be read: how many are malformed, how many wait to be read again, the latest."""
        with self.read() as s:
            waiting = col(OrderRecord.error).startswith(READ_AGAIN, autoescape=True)
            counts = dict(s.exec(select(waiting, func.count()).where(col(OrderRecord.error).is_not(None))
                                 .group_by(waiting)).all())
            latest = s.exec(select(OrderRecord).where(col(OrderRecord.error).is_not(None))
                            .order_by(col(OrderRecord.updated_at).desc(), col(OrderRecord.id).desc()).limit(limit)).all()
        return {"malformed": counts.get(False, 0), "read_again": counts.get(True, 0),  # SQLite's 0 / 1 are equal keys
                "latest": [{"source": r.source, "store": r.store, "order_id": r.order_id, "number": r.number,
                            "kind": "read again" if (r.error or "").startswith(READ_AGAIN) else "malformed",
                            "reason": r.error, "first_seen_at": r.first_seen_at, "updated_at": r.updated_at}
                           for r in latest]}

    def counts(self) -> dict[str, dict[str, int]]:
        with self.read() as s:
            rows = s.exec(select(Delivery.destination, Delivery.state, func.count()).group_by(
                col(Delivery.destination), col(Delivery.state))).all()
        result: dict[str, dict[str, int]] = {}
        for destination, state, count in rows:
            result.setdefault(destination, {})[state] = count
        return result

    def oldest_undelivered(self, destination: str) -> Delivery | None:
        with self.read() as s:
            return s.exec(select(Delivery).where(Delivery.destination == destination,
                                                 col(Delivery.state).in_(UNDELIVERED_STATES))
                          .order_by(col(Delivery.created_at), col(Delivery.id)).limit(1)).first()

    def backlog(self) -> dict[str, Backlog]:
        """Per destination with undelivered rows: how many, queued since when, failing since when."""
        with self.read() as s:
            rows = s.exec(select(Delivery.destination, func.count(), func.min(Delivery.created_at),
                                 func.min(Delivery.first_failed_at))
                          .where(col(Delivery.state).in_(UNDELIVERED_STATES)).group_by(col(Delivery.destination))).all()
        return {destination: Backlog(count, oldest, failing) for destination, count, oldest, failing in rows}

    def last_failure(self, destination: str) -> Delivery | None:
        with self.read() as s:
            return s.exec(select(Delivery).where(Delivery.destination == destination,
                                                 col(Delivery.state).in_([State.RETRYING, State.DEAD]))
                          .order_by(col(Delivery.updated_at).desc()).limit(1)).first()

    def cursors(self) -> list[Cursor]:
        with self.read() as s:
            return list(s.exec(select(Cursor).order_by(col(Cursor.source), col(Cursor.store), col(Cursor.name))).all())

    def held_for_lookups(self, destinations: Sequence[str], wait: float, now: datetime | None = None) -> int:
        """Due deliveries to `destinations` that `claim(lookup_wait=wait)` holds back for their order's look-up."""
        if not destinations:
            return 0
        now = now or utcnow()
        with self.read() as s:
            return int(s.exec(select(func.count()).select_from(Delivery).where(
                col(Delivery.destination).in_(list(destinations)), col(Delivery.state).in_(DUE_STATES),
                _waiting_for_lookup(), col(Delivery.created_at) > now - timedelta(seconds=wait))).one())

    def next_due(self, destination: str) -> datetime | None:
        with self.read() as s:
            return s.exec(select(func.min(Delivery.next_attempt_at)).where(
                Delivery.destination == destination, col(Delivery.state).in_(DUE_STATES))).first()


LOOKUP_DONE = "done"


def _waiting_for_lookup() -> Any:
    """EXISTS: the delivery's order has a look-up that is not done (correlated with `deliveries`)."""
    return (select(OrderLookup.lookup_id).join(Lookup, col(Lookup.id) == col(OrderLookup.lookup_id))
            .where(col(OrderLookup.source) == col(Delivery.source), col(OrderLookup.store) == col(Delivery.store),
                   col(OrderLookup.order_id) == col(Delivery.order_id), col(Lookup.state) != LOOKUP_DONE)
            .exists())


def _loyalty(s: Session, records: Sequence[OrderRecord]) -> dict[tuple[str, str, str], str]:
    """(source, store, order id) → the Loyalty JSON its look-up holds, for these orders (one query)."""
    if not records:
        return {}
    wanted = {(r.source, r.store, r.order_id) for r in records}
    rows = s.exec(select(OrderLookup.source, OrderLookup.store, OrderLookup.order_id, Lookup.loyalty)
                  .join(Lookup, col(Lookup.id) == col(OrderLookup.lookup_id))
                  .where(col(OrderLookup.order_id).in_(sorted({key[2] for key in wanted})),
                         col(Lookup.loyalty).is_not(None))).all()
    return {(source, store, order_id): data for source, store, order_id, data in rows
            if (source, store, order_id) in wanted and data}


def _insert(dialect: str, table: Any) -> Any:
    """INSERT with ON CONFLICT, in the dialect's own words."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    else:  # pragma: no cover - only sqlite and postgresql are supported
        raise RuntimeError(f"unsupported database: {dialect}")
    return insert(table)


#: SQLSTATEs of a transaction that lost to a concurrent one and may simply run again: a UNIQUE key another
#: transaction took first, a deadlock's victim, a serialisation failure
_CONCURRENT_WRITE = ("23505", "40P01", "40001")


def _concurrent_write(exc: IntegrityError | OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _CONCURRENT_WRITE


def _order_id(order: Order | Rejected) -> str:
    return order.order_id if isinstance(order, Rejected) else order.id
