"""A poll stops between pages when the service is stopping, and keeps its cursor."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.ledger import Ledger
from connector.orders import Order
from connector.polling import LIVE, poll
from connector.sources.base import Page, Source
from tests.unit.test_ledger import order

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class TwoPages(Source):
    name = "woocommerce"

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop  # set while the first page is fetched: SIGTERM during a request
        self.pages_read = 0

    @property
    def store(self) -> str:
        return "shop"

    def modified(self, since: datetime) -> Iterator[Page]:
        for ids in (("1", "2"), ("3",)):
            self.pages_read += 1
            if self.stop is not None:
                self.stop.set()
            yield Page(orders=[order(i) for i in ids], seen=len(ids))

    def created(self, since: datetime, until: datetime | None) -> Iterator[Page]:
        raise NotImplementedError

    def parse(self, raw: dict[str, Any]) -> Order:
        raise NotImplementedError

    def probe(self) -> str:
        return "two pages"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    yield ledger
    ledger.close()


def test_a_stopped_poll_keeps_what_it_read_and_leaves_the_cursor(ledger: Ledger) -> None:
    stop = threading.Event()
    source = TwoPages(stop)
    report = poll(ledger, source, ["sonarid"], lookback=600, now=NOW, stop=stop)
    assert source.pages_read == 1
    assert report.seen == 2 and report.error is None
    assert {d.order_id for d in ledger.deliveries()} == {"1", "2"}
    cursor = ledger.cursor("woocommerce", "shop", LIVE)
    assert cursor is None or cursor.position is None  # the window is read again on the next start


def test_an_unstopped_poll_reads_every_page_and_advances(ledger: Ledger) -> None:
    source = TwoPages()
    report = poll(ledger, source, ["sonarid"], lookback=600, now=NOW, stop=threading.Event())
    assert source.pages_read == 2 and report.seen == 3
    cursor = ledger.cursor("woocommerce", "shop", LIVE)
    assert cursor is not None and cursor.position == NOW
