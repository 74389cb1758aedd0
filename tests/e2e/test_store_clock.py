"""A store whose clock is minutes off this host's, either way, loses no order (DESIGN, "Polling"): windows
are measured on the store's clock. Through the CLI against sandboxes whose clock is skewed and moved on
between polls (store time passes without the test waiting for it)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.sandbox import BigCommerceSandbox, SonarIDSandbox, WooCommerceSandbox, sample_bigcommerce_orders
from connector.sandbox.clock import SkewedClock
from connector.sandbox.demo import BC_HASH, BC_TOKEN, WC_KEY, WC_SECRET
from tests.e2e.conftest import Connector
from tests.e2e.test_bigcommerce_to_sonarid import fresh
from tests.e2e.test_woocommerce_to_sonarid import one

LOOKBACK = 120  # seconds: less than the skew, and less than the store time passing between polls
STEP = timedelta(minutes=3)
SKEWS = [pytest.param(-13, id="13-min-behind"), pytest.param(15, id="15-min-ahead")]


class Store:
    """One platform's sandbox seen the same way: place a paid or pending order, pay it, its key in the ledger."""

    def __init__(self, platform: str, clock: SkewedClock, sonarid: SonarIDSandbox, tmp: Path) -> None:
        self.platform, self.clock = platform, clock
        if platform == "woocommerce":
            self.server: Any = WooCommerceSandbox(WC_KEY, WC_SECRET, clock=clock).start()
            self.connector = Connector(self.server, sonarid, tmp)
        else:
            self.server = BigCommerceSandbox(BC_HASH, BC_TOKEN, clock=clock).start()
            self.connector = Connector(None, sonarid, tmp, bc=self.server)
        self.connector.env["CONNECTOR_LOOKBACK"] = str(LOOKBACK)
        self.seed = 0

    def place(self, *, paid: bool = True) -> str:
        self.seed += 1
        if self.platform == "woocommerce":
            return str(self.server.add_order(one(self.seed, status="processing" if paid else "pending"))["id"])
        template = sample_bigcommerce_orders(1, seed=self.seed)[0]
        return str(self.server.add_order(fresh(template, status_id=11 if paid else 7))["id"])

    def pay(self, order_id: str) -> None:
        if self.platform == "woocommerce":
            self.server.update_order(int(order_id), status="processing")
        else:
            self.server.update_order(int(order_id), status_id=11)

    def cursor(self) -> datetime:
        ledger = self.connector.ledger()
        try:
            cursor = ledger.cursor(self.platform, self.server.store_hash if self.platform == "bigcommerce"
                                   else f"127.0.0.1:{self.server.port}", "live")
        finally:
            ledger.close()
        assert cursor is not None and cursor.position is not None
        return cursor.position.replace(tzinfo=UTC) if cursor.position.tzinfo is None else cursor.position


@pytest.fixture
def store_with_clock(sonarid: SonarIDSandbox, tmp_path: Path) -> Iterator[Callable[[str, int], Store]]:
    made: list[Store] = []

    def make(platform: str, minutes: int) -> Store:
        made.append(Store(platform, SkewedClock(timedelta(minutes=minutes)), sonarid, tmp_path))
        return made[-1]

    yield make
    for store in made:
        store.server.stop()
        assert store.server.errors == []


@pytest.mark.parametrize("platform", ["woocommerce", "bigcommerce"])
@pytest.mark.parametrize("minutes", SKEWS)
def test_orders_placed_or_paid_between_polls_are_all_delivered(store_with_clock: Callable[[str, int], Store],
                                                               platform: str, minutes: int) -> None:
    store = store_with_clock(platform, minutes)
    expected = {store.place()}  # placed before the first poll
    late_payer = store.place(paid=False)
    assert store.connector("poll").code == 0
    cursor_off_store_clock = []
    for step in range(3):
        store.clock.advance(seconds=STEP.total_seconds())  # store time passes between polls
        expected.add(store.place())
        if step == 0:
            store.pay(late_payer)
            expected.add(late_payer)
        run = store.connector("poll")
        assert run.code == 0, run.err
        cursor_off_store_clock.append(abs(store.cursor() - store.clock()))
    assert store.connector("poll").code == 0

    states = store.connector.states()
    assert states == {order_id: "delivered" for order_id in expected}
    prefix = "wc" if platform == "woocommerce" else "bc"
    for order_id in expected:
        assert store.connector.sonarid.submissions_for(f"{prefix}_{order_id}") == 1
    # each window ended on the store's clock, not this host's
    assert max(cursor_off_store_clock) < timedelta(seconds=30)


@pytest.mark.parametrize("platform", ["woocommerce", "bigcommerce"])
def test_check_reports_a_skew_of_more_than_a_minute_in_one_line(store_with_clock: Callable[[str, int], Store],
                                                                 platform: str) -> None:
    behind = store_with_clock(platform, -13)
    run = behind.connector("check")
    assert run.code == 0, run.err  # a warning: nothing is lost
    lines = [line for line in run.out.splitlines() if "clock" in line]
    assert len(lines) == 1, run.out
    assert re.fullmatch(rf"warning {platform}: the store's clock is 1[23] min \d+ s behind this host's .*", lines[0])

    ahead = store_with_clock(platform, 15)
    lines = [line for line in ahead.connector("check").out.splitlines() if "clock" in line]
    assert len(lines) == 1 and re.search(r"clock is 1[45] min \d+ s ahead of this host's", lines[0]), lines


@pytest.mark.parametrize("platform", ["woocommerce", "bigcommerce"])
def test_check_says_nothing_of_a_skew_under_a_minute(store_with_clock: Callable[[str, int], Store],
                                                     platform: str) -> None:
    run = store_with_clock(platform, 0).connector("check")
    assert run.code == 0, run.err
    assert "clock" not in run.out


@pytest.mark.parametrize("platform", ["woocommerce", "bigcommerce"])
def test_a_store_clock_set_back_loses_nothing(store_with_clock: Callable[[str, int], Store], platform: str) -> None:
    """The store's clock was 15 minutes fast and is corrected: the cursor follows it back."""
    store = store_with_clock(platform, 15)
    assert store.connector("poll").code == 0
    store.clock.advance(minutes=-15)
    order_id = store.place()  # stamped on the corrected clock: before the last window's end
    assert store.connector("poll").code == 0
    assert store.connector("poll").code == 0
    assert store.connector.states() == {order_id: "delivered"}


def test_an_order_stamped_in_the_future_does_not_push_the_window_past_real_orders(
        store_with_clock: Callable[[str, int], Store]) -> None:
    store = store_with_clock("woocommerce", -13)
    future = (store.clock() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    bogus = str(store.server.add_order(one(99) | {"date_created_gmt": future, "date_modified_gmt": future})["id"])
    assert store.connector("poll").code == 0
    expected = {bogus}
    for _ in range(2):
        store.clock.advance(seconds=STEP.total_seconds())
        expected.add(store.place())
        assert store.connector("poll").code == 0
    assert store.connector.states() == {order_id: "delivered" for order_id in expected}
