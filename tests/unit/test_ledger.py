"""The ledger's guarantees: UNIQUE deliveries, cursor with the orders, crash recovery."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from connector.errors import LedgerUnavailable
from connector.ledger import Ledger, Rejected, State, unavailable_kind
from connector.orders import Address, Order

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def order(order_id: str = "1", email: str = "a@example.com", total: str = "10.00") -> Order:
    return Order(source="woocommerce", store="shop", id=order_id, number=order_id, status="processing",
                 created_at=T0, modified_at=T0, currency="USD", total=Decimal(total), subtotal=Decimal(total),
                 billing=Address(first_name="A", last_name="B", email=email))


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    """Each test below runs on SQLite and on PostgreSQL."""
    ledger = Ledger(database_url)
    yield ledger
    ledger.close()


def test_wal_mode(tmp_path: Path) -> None:
    Ledger(f"sqlite:///{tmp_path / 'l.db'}").close()
    assert sqlite3.connect(tmp_path / "l.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_enqueue_twice_is_one_delivery_per_destination(ledger: Ledger) -> None:
    first = ledger.enqueue("woocommerce", "shop", [order("1"), order("2")], ["sonarid", "sophio"])
    again = ledger.enqueue("woocommerce", "shop", [order("1"), order("2")], ["sonarid", "sophio"])
    assert (first.new_deliveries, again.new_deliveries) == (4, 0)
    assert len(ledger.deliveries()) == 4


def test_cursor_moves_with_its_orders(ledger: Ledger) -> None:
    ledger.enqueue("woocommerce", "shop", [order("1")], ["sonarid"], cursor="live", position=T0)
    assert ledger.cursor("woocommerce", "shop").position == T0
    ledger.enqueue("woocommerce", "shop", [], ["sonarid"], cursor="live", position=T0 - timedelta(hours=1))
    assert ledger.cursor("woocommerce", "shop").position == T0  # never backwards


def test_money_and_times_round_trip_exactly(ledger: Ledger) -> None:
    ledger.enqueue("woocommerce", "shop", [order("1", total="0.10")], ["sonarid"])
    [claim] = ledger.claim("sonarid", 10, lease=60)
    assert claim.order.total == Decimal("0.10") and str(claim.order.total) == "0.10"
    assert claim.order.created_at == T0 and claim.order.created_at.tzinfo is not None


def test_claim_record_and_due_time(ledger: Ledger) -> None:
    ledger.enqueue("woocommerce", "shop", [order("1")], ["sonarid"])
    [claim] = ledger.claim("sonarid", 10, lease=60, now=T0)
    assert ledger.claim("sonarid", 10, lease=60, now=T0) == []  # in `sending`: nobody else takes it
    ledger.record(claim.delivery_id, State.RETRYING, reason="HTTP 500", next_attempt_at=T0 + timedelta(minutes=5))
    assert ledger.claim("sonarid", 10, lease=60, now=T0 + timedelta(minutes=1)) == []
    [again] = ledger.claim("sonarid", 10, lease=60, now=T0 + timedelta(minutes=6))
    assert again.attempts == 2


def test_a_row_left_in_sending_by_a_dead_process_is_recovered(ledger: Ledger) -> None:
    ledger.enqueue("woocommerce", "shop", [order("1")], ["sonarid"])
    ledger.claim("sonarid", 10, lease=3600)
    assert ledger.recover() == 0  # our own live claim is not touched
    with ledger.engine.begin() as db:
        db.execute(text("UPDATE deliveries SET claimed_by = 'localhost-gone:999999999'"))
    assert ledger.recover() == 0  # another host: only its lease can free it
    with ledger.engine.begin() as db:
        db.execute(text("UPDATE deliveries SET lease_until = '2000-01-01 00:00:00'"))
    assert ledger.recover() == 1
    [row] = ledger.deliveries()
    assert row.state == State.RETRYING and row.ambiguous_attempts == 1


def test_a_changed_order_re_evaluates_skipped_rows(ledger: Ledger) -> None:
    ledger.enqueue("woocommerce", "shop", [order("1", email="")], ["sonarid"])
    [claim] = ledger.claim("sonarid", 10, lease=60)
    ledger.record(claim.delivery_id, State.SKIPPED, reason="sonarID requires email")
    same = ledger.enqueue("woocommerce", "shop", [order("1", email="")], ["sonarid"])
    assert same.requeued == 0
    fixed = ledger.enqueue("woocommerce", "shop", [order("1", email="a@example.com")], ["sonarid"])
    assert fixed.requeued == 1
    assert ledger.deliveries()[0].state == State.PENDING


def test_a_delivered_row_is_never_requeued_by_a_change(ledger: Ledger) -> None:
    ledger.enqueue("woocommerce", "shop", [order("1")], ["sonarid"])
    [claim] = ledger.claim("sonarid", 10, lease=60)
    ledger.record(claim.delivery_id, State.DELIVERED, reference="r-1")
    ledger.enqueue("woocommerce", "shop", [order("1", total="99.00")], ["sonarid"])
    assert ledger.deliveries()[0].state == State.DELIVERED


def test_a_malformed_order_is_recorded_dead_with_its_reason(ledger: Ledger) -> None:
    bad = Rejected(order_id="7", number="7", reason="total is not a number: '12,34O'", raw='{"id": 7}')
    result = ledger.enqueue("woocommerce", "shop", [bad, order("8")], ["sonarid"])
    assert result.rejected == 1 and result.new_deliveries == 2
    rows = {r.order_id: r for r in ledger.deliveries()}
    assert rows["7"].state == State.DEAD and "12,34O" in (rows["7"].reason or "")
    assert rows["8"].state == State.PENDING
    assert ledger.order("woocommerce", "shop", "7").error == "total is not a number: '12,34O'"
    # fixed on the platform: it goes
    ledger.enqueue("woocommerce", "shop", [order("7")], ["sonarid"])
    assert {r.order_id: r.state for r in ledger.deliveries()}["7"] == State.PENDING


def test_requeue_dead(ledger: Ledger) -> None:
    ledger.enqueue("woocommerce", "shop", [order("1")], ["sonarid"])
    [claim] = ledger.claim("sonarid", 10, lease=60)
    ledger.record(claim.delivery_id, State.DEAD, reason="400")
    assert ledger.requeue() == 0
    assert ledger.requeue(dead=True) == 1
    assert ledger.deliveries()[0].state == State.PENDING


def test_the_first_failure_starts_the_horizon_and_success_or_retry_resets_it(ledger: Ledger) -> None:
    ledger.enqueue("woocommerce", "shop", [order("1")], ["sonarid"])
    for minute in (0, 5):
        [claim] = ledger.claim("sonarid", 1, lease=60, now=T0 + timedelta(minutes=minute))
        ledger.record(claim.delivery_id, State.RETRYING, failing=True, next_attempt_at=T0,
                      now=T0 + timedelta(minutes=minute))
    [claim] = ledger.claim("sonarid", 1, lease=60, now=T0 + timedelta(minutes=9))
    assert claim.first_failed_at == T0  # the first failure, not the latest
    assert ledger.backlog()["sonarid"].failing_since == T0
    ledger.record(claim.delivery_id, State.DEAD, failing=True)
    assert ledger.requeue(dead=True) == 1
    assert ledger.deliveries()[0].first_failed_at is None  # `retry` gives a fresh horizon
    [claim] = ledger.claim("sonarid", 1, lease=60)
    ledger.record(claim.delivery_id, State.DELIVERED)
    assert ledger.backlog() == {}


def test_backlog_counts_undelivered_rows_and_the_oldest(ledger: Ledger) -> None:
    ledger.enqueue("woocommerce", "shop", [order("1")], ["sonarid", "sophio"], now=T0)
    ledger.enqueue("woocommerce", "shop", [order("2"), order("3")], ["sonarid"], now=T0 + timedelta(hours=1))
    [claim] = ledger.claim("sonarid", 1, lease=60)
    ledger.record(claim.delivery_id, State.DELIVERED)
    backlog = ledger.backlog()
    assert (backlog["sonarid"].count, backlog["sonarid"].oldest_since) == (2, T0 + timedelta(hours=1))
    assert (backlog["sophio"].count, backlog["sophio"].oldest_since, backlog["sophio"].failing_since) == (1, T0, None)


def test_a_write_lock_held_by_another_process_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    ledger = Ledger(f"sqlite:///{path}?timeout=0.2")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LedgerUnavailable) as caught:
            ledger.enqueue("woocommerce", "shop", [order("1")], ["sonarid"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert caught.value.kind == "locked"
    assert str(caught.value).startswith(f"the ledger {path} is locked by another process")
    assert ledger.enqueue("woocommerce", "shop", [order("1")], ["sonarid"]).new_deliveries == 1  # nothing half-written
    ledger.close()


def test_sqlite_full_is_recognised_as_a_full_disk(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "small.db")
    db.execute("CREATE TABLE t (x BLOB)")
    db.execute("PRAGMA max_page_count = 3")  # the same SQLITE_FULL a full disk gives
    with pytest.raises(sqlite3.OperationalError) as caught:
        db.execute("INSERT INTO t VALUES (zeroblob(100000))")
    db.close()
    assert unavailable_kind(caught.value) == "full"
    assert unavailable_kind(OSError(errno.ENOSPC, "No space left on device")) == "full"
    assert unavailable_kind(sqlite3.OperationalError("no such table: t")) is None
