"""`drain`: pages into the ledger for poll and backfill alike, counted in one typed `Tally`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from connector.config import Secret, WooCommerceSettings
from connector.ledger import EnqueueResult, Ledger
from connector.orders import Address, Order, Rejected
from connector.polling import Tally, drain
from connector.sources.base import Page
from connector.sources.woocommerce import WooCommerce

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SOURCE = WooCommerce(WooCommerceSettings(url="https://shop.example", consumer_key=Secret("ck_unit"),
                                         consumer_secret=Secret("cs_unit")))


def order(order_id: str, created: datetime = T0) -> Order:
    return Order(source="woocommerce", store=SOURCE.store, id=order_id, number=order_id, status="processing",
                 created_at=created, modified_at=created, currency="USD", total=Decimal("10.00"),
                 subtotal=Decimal("10.00"), billing=Address(first_name="A", last_name="B", email="a@example.com"))


def malformed(order_id: str) -> Rejected:
    return Rejected(order_id=order_id, number=order_id, reason="total is not a number", raw="{}")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    yield ledger
    ledger.close()


def test_a_tally_counts_what_the_ledger_recorded_or_in_a_dry_run_every_order() -> None:
    tally = Tally()
    page = Page(orders=[order("1"), malformed("2")], seen=3, unreadable=1)
    tally.add(page, EnqueueResult(seen=2, new_orders=2, new_deliveries=1, requeued=0, rejected=1, unread=0))
    tally.add(page)
    assert tally == Tally(seen=6, new_deliveries=3, new_orders=2, requeued=0, rejected=1, unread=0, unreadable=2)


def test_a_poll_moves_the_cursor_once_with_its_last_page(ledger: Ledger) -> None:
    ends: list[datetime] = []

    def end() -> datetime:
        ends.append(T0 + timedelta(minutes=5))
        return ends[-1]

    pages = iter([Page(orders=[order("1")], seen=1), Page(orders=[order("2"), malformed("3")], seen=2)])
    tally = Tally()
    assert drain(ledger, SOURCE, pages, ["sonarid"], tally, cursor="live", end=end) is False
    assert len(ends) == 1 and ledger.cursor(SOURCE.name, SOURCE.store, "live").position == ends[0]
    assert (tally.seen, tally.new_orders, tally.new_deliveries, tally.rejected) == (3, 3, 3, 1)  # a malformed order gets its `dead` row too


def test_a_poll_told_to_stop_reads_no_further_page_and_keeps_the_cursor(ledger: Ledger) -> None:
    stop = threading.Event()
    read: list[int] = []

    def pages() -> Iterator[Page]:
        for n in (1, 2, 3):
            read.append(n)
            if n == 2:
                stop.set()
            yield Page(orders=[order(str(n))], seen=1)

    tally = Tally()
    assert drain(ledger, SOURCE, pages(), ["sonarid"], tally, cursor="live", end=lambda: T0, stop=stop) is True
    assert read == [1, 2] and tally.seen == 2
    assert ledger.cursor(SOURCE.name, SOURCE.store, "live") is None


def test_a_backfill_moves_its_cursor_with_each_page_to_its_newest_order(ledger: Ledger) -> None:
    positions: list[datetime | None] = []

    def pages() -> Iterator[Page]:
        yield Page(orders=[order("1", T0), order("2", T0 + timedelta(hours=1))], seen=2)
        saved = ledger.cursor(SOURCE.name, SOURCE.store, "backfill")
        positions.append(saved.position if saved else None)
        yield Page(orders=[malformed("3")], seen=1)  # no creation time: the cursor stays

    heard: list[tuple[int, datetime | None]] = []
    tally = Tally()
    drain(ledger, SOURCE, pages(), ["sonarid"], tally, cursor="backfill", on_page=lambda p, newest: heard.append((p.seen, newest)))
    assert positions == [T0 + timedelta(hours=1)]  # recorded before the next page was read
    assert ledger.cursor(SOURCE.name, SOURCE.store, "backfill").position == T0 + timedelta(hours=1)
    assert heard == [(2, T0 + timedelta(hours=1)), (1, None)]


def test_a_dry_run_records_nothing(ledger: Ledger) -> None:
    tally = Tally()
    drain(ledger, SOURCE, iter([Page(orders=[order("1")], seen=1)]), ["sonarid"], tally, cursor="backfill", dry_run=True)
    assert (tally.seen, tally.new_deliveries) == (1, 1) and ledger.deliveries() == []


def test_the_ledger_knows_an_order_only_readable_and_at_the_listed_version(ledger: Ledger) -> None:
    later = T0 + timedelta(minutes=1)
    ledger.enqueue(SOURCE.name, SOURCE.store, [order("1"), order("2"), malformed("3")], ["sonarid"])
    known = ledger.known(SOURCE.name, SOURCE.store, [("1", T0), ("2", later), ("3", T0), ("4", T0)])
    assert list(known) == [("1", T0)] and known[("1", T0)] == order("1")
    assert ledger.known(SOURCE.name, SOURCE.store, []) == {}
