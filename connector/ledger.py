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
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    String,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    event,
    func,
    insert,
    null,
    or_,
    union_all,
    update,
)
from sqlalchemy import select as core_select  # Core rows (sqlmodel's `select` types ORM entities)
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
        Index("ix_delivery_claim", "destination", "state", "next_attempt_at", "id"),  # the claim's walks (0007)
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
            # WAL + NORMAL: a commit is durable against the process crashing (it is in the WAL, in the OS's hands);
            # a power cut or kernel crash can undo the last commits since the WAL was last synced (a checkpoint),
            # never corrupt the file. Undone here means: an outcome back in `sending` (recovered and resent with
            # the same order id; every destination deduplicates on it) or a page and its cursor move read again
            # (the UNIQUE key makes that free). FULL would fsync every commit: ~1 ms-10 ms each, per delivery.
            cursor.execute("PRAGMA synchronous=NORMAL")
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
        self._write_lock = threading.RLock() if url.startswith("sqlite") else None  # see `_in_turn`
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
        disk is full; the transaction is then rolled back and nothing was written. Within `batch` (on
        the same thread) it is a savepoint of the batch's transaction instead, committed with it.
        """
        ambient: Session | None = getattr(getattr(self, "_batch", None), "session", None)
        if ambient is not None:
            with self._unavailable_as_one_line(), ambient.begin_nested():
                yield ambient
            return
        with self._in_turn(), self._unavailable_as_one_line(), \
                Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _in_turn(self) -> Iterator[None]:
        """SQLite: this process's write transactions one at a time, in a lock that wakes the next at once
        (SQLite's busy handler polls, sleeping up to 100 ms between tries); other processes still meet
        BEGIN IMMEDIATE and the busy timeout. PostgreSQL: no lock (row locks, SKIP LOCKED)."""
        lock = getattr(self, "_write_lock", None)
        if lock is None:
            yield
            return
        with lock:
            yield

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Every `write` on this thread until the end joins one transaction, each in its own savepoint (a
        failing one undoes only itself): one BEGIN IMMEDIATE and one commit for many (`ledger_writer`)."""
        if not hasattr(self, "_batch"):
            self._batch = threading.local()
        with self.write() as session:
            self._batch.session = session
            try:
                yield
            finally:
                self._batch.session = None

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
        skipped: Mapping[str, str] | None = None,
        session: Session | None = None,
    ) -> EnqueueResult:
        """Record orders and one delivery per destination; advance `cursor` in the same transaction
        (`rewind`: to `position` even when it is earlier). `skipped`: destination → why the orders are not
        for it (their rows are `skipped` with that reason); `session`: inside the caller's write transaction
        (run once: the caller runs its transaction again, `concurrent_write` tells when).

        Two processes may record the same new order at once (a poll and a backfill, on PostgreSQL, where
        nothing serialises them as BEGIN IMMEDIATE does on SQLite): the later one's INSERT waits for the
        other's commit and then breaks the UNIQUE key (or, each waiting for a row the other holds, one is
        chosen as a deadlock's victim). The whole transaction is then run again; it finds what the other recorded."""
        if session is not None:
            return self._enqueue(source, store, orders, destinations, cursor=cursor, position=position, now=now,
                                 rewind=rewind, skipped=skipped, session=session)
        for tries in range(1, ENQUEUE_TRIES + 1):
            try:
                return self._enqueue(source, store, orders, destinations, cursor=cursor, position=position, now=now,
                                     rewind=rewind, skipped=skipped)
            except (IntegrityError, OperationalError) as exc:
                if tries == ENQUEUE_TRIES or not _concurrent_write(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _enqueue(self, source: str, store: str, orders: Sequence[Order | Rejected], destinations: Sequence[str], *,
                 cursor: str | None, position: datetime | None, now: datetime | None, rewind: bool,
                 skipped: Mapping[str, str] | None = None, session: Session | None = None) -> EnqueueResult:
        now = now or utcnow()
        new_orders = new_deliveries = requeued = rejected = unread = 0
        with nullcontext(session) if session is not None else self.write() as s:
            ids = {_order_id(order) for order in orders}
            known = {record.order_id: record for record in s.exec(select(OrderRecord).where(
                OrderRecord.source == source, OrderRecord.store == store, col(OrderRecord.order_id).in_(ids)))
            } if ids else {}  # one query for the page, not one per order
            rows: list[dict[str, Any]] = []  # the delivery rows to insert unless there
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
                known[record.order_id] = record
                if isinstance(order, Order) and hooked:
                    for hook in self.enqueue_hooks:  # in this transaction: e.g. the order's look-up (connector.lookups)
                        hook(s, order, now)
                for destination in () if isinstance(order, Rejected) and order.transient else destinations:
                    rows.append(_delivery_values(source, store, _order_id(order), destination, order, now))
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
            new_deliveries += self._insert_deliveries(s, rows)  # the page's rows in a statement or a few
            if cursor is not None and position is not None:
                self._advance(s, source, store, cursor, position, rewind)
            for destination, why in (skipped or {}).items():  # after any re-evaluation above: these stay skipped
                s.exec(update(Delivery).where(
                    col(Delivery.source) == source, col(Delivery.store) == store, col(Delivery.destination) == destination,
                    col(Delivery.order_id).in_([o.id for o in orders if not isinstance(o, Rejected)]),
                    col(Delivery.state).in_([State.PENDING, State.RETRYING, State.DEAD, State.SKIPPED]))
                    .values(state=State.SKIPPED, reason=why, next_attempt_at=None, updated_at=now))
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

    def _insert_deliveries(self, s: Session, rows: list[dict[str, Any]]) -> int:
        """INSERT … ON CONFLICT DO NOTHING of many delivery rows as one executemany of one statement (compiled
        once: a VALUES list per page size would fill SQLAlchemy's statement cache); how many were new."""
        if not rows:
            return 0
        dialect = s.get_bind().dialect.name
        statement = _insert(dialect, Delivery).on_conflict_do_nothing(
            index_elements=["source", "store", "order_id", "destination"])
        connection = s.connection()
        if dialect == "postgresql":  # count what RETURNING gives back: rowcount is -1 there
            return len(connection.execute(statement.returning(_DELIVERIES.c.id), rows).all())
        return connection.execute(statement, rows).rowcount or 0

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
        """Take up to `limit` due rows for `destination` into `sending`, oldest first (never tried, then by due time).

        Four index walks (`ix_delivery_claim`: each state, never tried / due by now), each reading at most
        `limit` rows in the index's order: the same cost with 100 rows queued or 100,000. The snapshots are
        read for the rows taken only, after the limit.

        `lookup_wait` (a destination that carries the loyalty look-up): a row whose order's look-up is not done
        yet is not due until `lookup_wait` seconds after it was queued; the others are claimed meanwhile (the
        walks then pass over the rows still waiting: a cost that grows with the look-ups' lag, not the backlog)."""
        now = now or utcnow()
        with self.write() as s:
            return self._claim(s.connection(), destination, limit, lease, now, lookup_wait)

    def _claim(self, connection: Any, destination: str, limit: int, lease: float, now: datetime,
               lookup_wait: float | None = None) -> list[Claim]:
        if limit <= 0:
            return []
        params: dict[str, Any] = {"c_destination": destination, "c_now": now, "c_limit": limit}
        walks, union = _WALKS, _DUE_UNION
        if lookup_wait is not None:
            walks, union = _WAITING_WALKS, _WAITING_UNION
            params["c_waited"] = now - timedelta(seconds=lookup_wait)
        if connection.dialect.name == "sqlite":  # one round trip: UNION ALL of the walks, each still its own LIMIT
            found = connection.execute(union, params).all()
        else:  # FOR UPDATE SKIP LOCKED cannot be used with UNION on PostgreSQL
            found = [row for walk in walks for row in connection.execute(walk, params).all()]
        due = sorted(set(found), key=lambda row: (row[1] is not None, row[1] or now, row[0]))[:limit]
        if not due:
            return []
        by_id = {row[0]: row for row in connection.execute(_SNAPSHOTS, {"c_ids": [row[0] for row in due]}).all()}
        loyalty = _loyalty(connection, [row[6:9] for row in by_id.values()])
        claims: list[Claim] = []
        taken: list[int] = []
        for delivery_id, *_ in due:
            row = by_id.get(delivery_id)
            if row is None:  # no snapshot: cannot happen through `enqueue`
                continue
            _, attempts, first_failed_at, data, error, content_hash, *key = row
            if error is not None and not content_hash:
                connection.execute(update(_DELIVERIES).where(_DELIVERIES.c.id == delivery_id).values(
                    state=State.DEAD, reason=f"{MALFORMED}: {error}"))
                continue
            taken.append(delivery_id)
            order = Order.model_validate_json(data)
            found = loyalty.get(tuple(key))
            if found is not None:
                order = order.model_copy(update={"loyalty": Loyalty.model_validate_json(found)})
            claims.append(Claim(delivery_id, order, attempts + 1, first_failed_at))
        if taken:
            connection.execute(_TAKE, {"c_ids": taken, "c_now": now, "c_lease": now + timedelta(seconds=lease),
                                       "c_by": process_token()})
        return claims

    def record(self, delivery_id: int, state: State, *, reason: str | None = None, status_code: int | None = None,
               reference: str | None = None, message: str | None = None, response: str | None = None,
               next_attempt_at: datetime | None = None, failing: bool = False,
               ambiguous: int = 0, uncount: bool = False, now: datetime | None = None) -> None:
        """Record the outcome of one attempt (never raises on a vanished row).

        `failing`: a transient or ambiguous failure; the first one starts the retry horizon's clock.
        Two Core statements (an UPDATE computed in SQL, the attempt's INSERT); no row is loaded.
        """
        now = now or utcnow()
        message = redact(message)[:2000] if message else None
        reason = redact(reason) if reason else None
        delivered = state == State.DELIVERED
        with self.write() as s:
            connection = s.connection()
            result = connection.execute(_RECORD, {
                "b_id": delivery_id, "b_state": str(state), "b_reason": reason, "b_status": status_code,
                "b_reference": reference or None, "b_message": message,
                "b_response": redact(response)[:2000] if response is not None else None,
                "b_next": next_attempt_at, "b_now": now, "b_ambiguous": ambiguous, "b_uncount": int(uncount),
                "b_failing": int(failing and not delivered), "b_delivered": int(delivered)})
            if not result.rowcount:  # vanished
                return
            connection.execute(insert(_ATTEMPTS).values(delivery_id=delivery_id, at=now, state=str(state),
                                                        status_code=status_code, message=message or reason))

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


def _delivery_values(source: str, store: str, order_id: str, destination: str, order: Order | Rejected,
                     now: datetime) -> dict[str, Any]:
    """A new delivery row: pending, or dead with the reason when the order is malformed."""
    malformed = isinstance(order, Rejected)
    return {"source": source, "store": store, "order_id": order_id, "destination": destination,
            "state": str(State.DEAD if malformed else State.PENDING),
            "reason": f"{MALFORMED}: {order.reason}" if isinstance(order, Rejected) else None,
            "attempts": 0, "ambiguous_attempts": 0, "created_at": now, "updated_at": now}


_DELIVERIES: Any = Delivery.__table__  # type: ignore[attr-defined]
_ORDERS: Any = OrderRecord.__table__  # type: ignore[attr-defined]
_ATTEMPTS: Any = Attempt.__table__  # type: ignore[attr-defined]


def _walks(waiting: bool = False) -> list[Any]:
    """The claim's index walks: per due state, the never-tried rows, then the due ones, both in the index's
    order (PostgreSQL sorts by `id` alone after an IS NULL; by both columns it walks the index). FOR UPDATE
    SKIP LOCKED on PostgreSQL (a row another instance is taking is passed over); SQLite's BEGIN IMMEDIATE
    serialises claims anyway. Built once, bound per claim (c_destination, c_now, c_limit). `waiting`: rows whose
    order's look-up is not done are passed over until they were queued before c_waited (VOYADO_WAIT)."""
    d = _DELIVERIES
    destination = bindparam("c_destination", type_=String())
    now = bindparam("c_now", type_=UTCDateTime())
    limit = bindparam("c_limit", type_=Integer())
    statements = []
    for state in DUE_STATES:
        base = core_select(d.c.id, d.c.next_attempt_at).where(d.c.destination == destination, d.c.state == str(state))
        if waiting:
            base = base.where(or_(~_waiting_for_lookup(), d.c.created_at.is_(None),
                                  d.c.created_at <= bindparam("c_waited", type_=UTCDateTime())))
        statements.append(base.where(d.c.next_attempt_at.is_(None)))
        statements.append(base.where(d.c.next_attempt_at <= now))
    return [statement.order_by(d.c.next_attempt_at, d.c.id).limit(limit).with_for_update(skip_locked=True)
            for statement in statements]


def _due_union(walks: list[Any]) -> Any:
    """The walks in one statement (SQLite): each a subquery keeping its own ORDER BY and LIMIT."""
    subqueries = [walk.subquery() for walk in walks]
    return union_all(*(core_select(q.c.id, q.c.next_attempt_at) for q in subqueries))


LOOKUP_DONE = "done"
_LOOKUPS: Any = Lookup.__table__  # type: ignore[attr-defined]
_ORDER_LOOKUPS: Any = OrderLookup.__table__  # type: ignore[attr-defined]


def _waiting_for_lookup() -> Any:
    """EXISTS: the delivery's order has a look-up that is not done (correlated with `deliveries`)."""
    d, ol, lk = _DELIVERIES, _ORDER_LOOKUPS, _LOOKUPS
    return (core_select(ol.c.lookup_id).join(lk, lk.c.id == ol.c.lookup_id)
            .where(ol.c.source == d.c.source, ol.c.store == d.c.store, ol.c.order_id == d.c.order_id,
                   lk.c.state != LOOKUP_DONE)
            .exists())


def _loyalty(connection: Any, keys: Sequence[Sequence[str]]) -> dict[tuple[str, ...], str]:
    """(source, store, order id) → the Loyalty JSON its look-up holds, for these orders (one query)."""
    wanted = {tuple(key) for key in keys}
    if not wanted:
        return {}
    ol, lk = _ORDER_LOOKUPS, _LOOKUPS
    rows = connection.execute(core_select(ol.c.source, ol.c.store, ol.c.order_id, lk.c.loyalty)
                              .join(lk, lk.c.id == ol.c.lookup_id)
                              .where(ol.c.order_id.in_(sorted({key[2] for key in wanted})),
                                     lk.c.loyalty.is_not(None))).all()
    return {(source, store, order_id): data for source, store, order_id, data in rows
            if (source, store, order_id) in wanted and data}


_WALKS = _walks()
_DUE_UNION = _due_union(_WALKS)
_WAITING_WALKS = _walks(waiting=True)
_WAITING_UNION = _due_union(_WAITING_WALKS)
#: the claimed rows' snapshots, read after the limit (c_ids)
_SNAPSHOTS = (core_select(_DELIVERIES.c.id, _DELIVERIES.c.attempts, _DELIVERIES.c.first_failed_at, _ORDERS.c.data,
                          _ORDERS.c.error, _ORDERS.c.content_hash)
              .add_columns(_ORDERS.c.source, _ORDERS.c.store, _ORDERS.c.order_id)
              .select_from(_DELIVERIES.join(_ORDERS, and_(_ORDERS.c.source == _DELIVERIES.c.source,
                                                          _ORDERS.c.store == _DELIVERIES.c.store,
                                                          _ORDERS.c.order_id == _DELIVERIES.c.order_id)))
              .where(_DELIVERIES.c.id.in_(bindparam("c_ids", expanding=True))))
_TAKE = (update(_DELIVERIES).where(_DELIVERIES.c.id.in_(bindparam("c_ids", expanding=True))).values(
    state=str(State.SENDING), attempts=_DELIVERIES.c.attempts + 1, last_attempt_at=bindparam("c_now", type_=UTCDateTime()),
    updated_at=bindparam("c_now", type_=UTCDateTime()), lease_until=bindparam("c_lease", type_=UTCDateTime()),
    claimed_by=bindparam("c_by", type_=String())))


def _due_statements(destination: str, limit: int, now: datetime) -> list[Any]:
    """The walks with these values bound (for EXPLAIN)."""
    return [walk.params(c_destination=destination, c_now=now, c_limit=limit) for walk in _WALKS]


def _recorded() -> Any:
    """`Ledger.record`'s UPDATE: every outcome's changes computed in SQL from bound values (no row loaded)."""
    d = _DELIVERIES
    now = bindparam("b_now", type_=UTCDateTime())
    uncount, failing, delivered = (bindparam(name, type_=Integer()) for name in ("b_uncount", "b_failing", "b_delivered"))
    return (update(d).where(d.c.id == bindparam("b_id", type_=Integer())).values(
        state=bindparam("b_state", type_=String()), reason=bindparam("b_reason", type_=String()),
        status_code=bindparam("b_status", type_=Integer()),
        reference=func.coalesce(bindparam("b_reference", type_=String()), d.c.reference),
        message=bindparam("b_message", type_=String()),
        response=func.coalesce(bindparam("b_response", type_=String()), d.c.response),
        next_attempt_at=bindparam("b_next", type_=UTCDateTime()), lease_until=None, claimed_by=None, updated_at=now,
        ambiguous_attempts=d.c.ambiguous_attempts + bindparam("b_ambiguous", type_=Integer()),
        attempts=case((d.c.attempts - uncount < 0, 0), else_=d.c.attempts - uncount),
        first_failed_at=case((delivered == 1, null()), (failing == 1, func.coalesce(d.c.first_failed_at, now)),
                             else_=d.c.first_failed_at),
        delivered_at=case((delivered == 1, now), else_=d.c.delivered_at)))


_RECORD = _recorded()


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


def concurrent_write(exc: IntegrityError | OperationalError) -> bool:
    """A transaction that lost to a concurrent one and may simply run again (`_CONCURRENT_WRITE`)."""
    return _concurrent_write(exc)


def _concurrent_write(exc: IntegrityError | OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _CONCURRENT_WRITE


def _order_id(order: Order | Rejected) -> str:
    return order.order_id if isinstance(order, Rejected) else order.id


from connector import capabilities as _capabilities  # noqa: E402, F401 - its table is in the ledger's metadata
from connector import inbox as _inbox  # noqa: E402, F401 - its table is in the ledger's metadata
