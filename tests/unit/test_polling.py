"""`poll` and `backfill` (connector/polling.py) against a fake Source and a real SQLite ledger: where each
window starts, where the cursor ends, and what a platform error leaves behind."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.ledger import Ledger
from connector.orders import Address, Order
from connector.polling import LIVE, backfill, backfill_name, poll
from connector.sources.base import Estimate, Page, Source, SourceError
from connector.sources.clock import StoreClock

T0 = datetime(2026, 11, 1, 12, 0, 30, 250_000, tzinfo=UTC)  # "now", with a fraction of a second
NOW = T0.replace(microsecond=0)


def order(order_id: str, created: datetime = NOW) -> Order:
    return Order(source="fake", store="shop-1", id=order_id, number=order_id, status="processing",
                 created_at=created, modified_at=created, currency="USD", total=Decimal("10.00"),
                 subtotal=Decimal("10.00"), billing=Address(first_name="A", last_name="B", email="a@example.com"))


class FakeSource(Source):
    """Serves the pages it is given and remembers every window it was asked for."""

    name = "fake"

    def __init__(self, pages: list[Page] | None = None, *, fail_after: int | None = None,
                 extra_lookback: float = 0.0, clock: StoreClock | None = None) -> None:
        self.pages = pages or []
        self.fail_after = fail_after  # raise SourceError after serving this many pages
        self.extra_lookback = extra_lookback
        self.clock = clock
        self.windows: list[tuple[str, datetime, datetime | None]] = []

    @property
    def store(self) -> str:
        return "shop-1"

    def _serve(self) -> Iterator[Page]:
        for n, page in enumerate(self.pages):
            if self.fail_after is not None and n >= self.fail_after:
                raise SourceError("HTTP 503 from the store")
            yield page
        if self.fail_after is not None and self.fail_after >= len(self.pages):
            raise SourceError("HTTP 503 from the store")

    def modified(self, since: datetime) -> Iterator[Page]:
        self.windows.append(("modified", since, None))
        return self._serve()

    def created(self, since: datetime, until: datetime | None) -> Iterator[Page]:
        self.windows.append(("created", since, until))
        return self._serve()

    def parse(self, raw: dict[str, Any]) -> Order:
        raise NotImplementedError

    def probe(self) -> str:
        return "fake"

    def estimate(self, since: datetime, until: datetime | None) -> Estimate | None:
        return Estimate(orders=len(self.pages), eligible=len(self.pages), requests=len(self.pages))


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield ledger
    ledger.close()


def live(ledger: Ledger) -> datetime | None:
    cursor = ledger.cursor("fake", "shop-1", LIVE)
    return cursor.position if cursor else None


def test_the_first_poll_reads_one_look_back_before_now_and_leaves_the_cursor_at_now(ledger: Ledger) -> None:
    source = FakeSource([Page(orders=[order("1")], seen=1)])
    report = poll(ledger, source, ["sonarid"], lookback=300, now=T0)
    assert source.windows == [("modified", NOW - timedelta(seconds=300), None)]  # whole seconds
    assert live(ledger) == NOW and report.cursor == NOW
    assert (report.seen, report.new_orders, report.enqueued, report.error) == (1, 1, 1, None)
    assert [d.order_id for d in ledger.deliveries()] == ["1"]


def test_the_next_poll_starts_a_look_back_before_the_cursor_not_before_now(ledger: Ledger) -> None:
    ledger.advance("fake", "shop-1", LIVE, NOW - timedelta(hours=2))
    source = FakeSource()
    poll(ledger, source, ["sonarid"], lookback=60, now=T0)
    assert source.windows == [("modified", NOW - timedelta(hours=2, seconds=60), None)]
    assert live(ledger) == NOW  # an empty window still moves the cursor


def test_a_source_that_needs_more_look_back_gets_it(ledger: Ledger) -> None:
    ledger.advance("fake", "shop-1", LIVE, NOW)
    source = FakeSource(extra_lookback=3600)
    poll(ledger, source, ["sonarid"], lookback=60, now=T0 + timedelta(minutes=1))
    assert source.windows[0][1] == NOW - timedelta(hours=1)


def test_the_cursor_follows_the_store_clock_even_when_it_is_behind_this_host(ledger: Ledger) -> None:
    store_time = NOW - timedelta(minutes=10, microseconds=-500_000)
    source = FakeSource([Page(orders=[order("1")], seen=1)], clock=StoreClock(date=store_time, host=NOW))
    poll(ledger, source, ["sonarid"], lookback=60, now=T0)
    assert live(ledger) == store_time.replace(microsecond=0)


def test_a_platform_error_is_reported_and_the_cursor_stays(ledger: Ledger) -> None:
    before = NOW - timedelta(hours=1)
    ledger.advance("fake", "shop-1", LIVE, before)
    source = FakeSource([Page(orders=[order("1")], seen=1), Page(orders=[order("2")], seen=1)], fail_after=2)
    report = poll(ledger, source, ["sonarid"], lookback=60, now=T0)
    assert report.error == "HTTP 503 from the store"
    assert live(ledger) == before and report.cursor == before
    assert ledger.cursor("fake", "shop-1", LIVE).last_error == "HTTP 503 from the store"


def test_a_backfill_resumes_from_its_own_cursor_and_leaves_the_live_one_alone(ledger: Ledger) -> None:
    since, until = NOW - timedelta(days=30), NOW - timedelta(days=1)
    first = FakeSource([Page(orders=[order("1", since + timedelta(days=2))], seen=1)], fail_after=1)
    estimates: list[Estimate] = []
    report = backfill(ledger, first, ["sonarid"], since=since, until=until, on_estimate=estimates.append)
    assert report.error == "HTTP 503 from the store" and estimates[0].orders == 1
    assert first.windows == [("created", since, until)]
    saved = ledger.cursor("fake", "shop-1", backfill_name(since, until))
    assert saved is not None and saved.position == since + timedelta(days=2)

    again = FakeSource([Page(orders=[order("2", since + timedelta(days=3))], seen=1)])
    done = backfill(ledger, again, ["sonarid"], since=since, until=until)
    assert again.windows == [("created", since + timedelta(days=2), until)]  # where the first one stopped
    assert done.error is None and done.cursor == since + timedelta(days=3)
    assert live(ledger) is None
    assert sorted(d.order_id for d in ledger.deliveries()) == ["1", "2"]


def test_a_dry_run_backfill_starts_at_since_and_records_nothing(ledger: Ledger) -> None:
    since = NOW - timedelta(days=30)
    ledger.advance("fake", "shop-1", backfill_name(since, None), since + timedelta(days=5))
    source = FakeSource([Page(orders=[order("1", since + timedelta(days=6))], seen=1)])
    report = backfill(ledger, source, ["sonarid"], since=since, until=None, dry_run=True)
    assert source.windows == [("created", since, None)]
    assert (report.seen, report.enqueued) == (1, 1) and ledger.deliveries() == []
