"""An answer already received is recorded through ledger trouble, and its destination claims nothing meanwhile.

A real ledger and a real sonarID sandbox; only `record` is made to fail, for one delivery, as a
locked ledger makes it fail.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector import config
from connector.delivery import Deliverer
from connector.destinations import build_destinations
from connector.errors import LedgerUnavailable
from connector.ledger import Claim, Ledger, State
from connector.sandbox import SonarIDSandbox
from connector.sandbox.demo import SONARID_KEY
from tests.unit.test_ledger import order


class TroubledLedger(Ledger):
    """`record` of the first claimed delivery fails `failures` times; counts claims made meanwhile."""

    def __init__(self, url: str, failures: int) -> None:
        super().__init__(url)
        self.failures = failures
        self.troubled: int | None = None
        self.in_trouble = threading.Event()
        self.claims_in_trouble = 0

    def claim(self, destination: str, limit: int, **kwargs: Any) -> list[Claim]:
        if self.in_trouble.is_set():
            self.claims_in_trouble += 1
        claims = super().claim(destination, limit, **kwargs)
        if self.troubled is None and claims:
            self.troubled = claims[0].delivery_id
        return claims

    def record(self, delivery_id: int, state: State, **kwargs: Any) -> None:
        if delivery_id == self.troubled and self.failures:
            self.failures -= 1
            self.in_trouble.set()
            raise LedgerUnavailable(self.path, "locked")
        super().record(delivery_id, state, **kwargs)
        if delivery_id == self.troubled:
            self.in_trouble.clear()


@pytest.fixture
def sonarid() -> Iterator[SonarIDSandbox]:
    with SonarIDSandbox(SONARID_KEY) as server:
        yield server


def deliverer(ledger: Ledger, sonarid: SonarIDSandbox, **kwargs: Any) -> Deliverer:
    settings = config.load({"CONNECTOR_DATABASE_URL": ledger.url, "SONARID_API_KEY": SONARID_KEY, "SONARID_URL": sonarid.url})
    return Deliverer(ledger, build_destinations(settings), concurrency=4, retry_base=0, **kwargs)


def test_the_answer_is_recorded_once_the_ledger_takes_it_and_nothing_is_claimed_meanwhile(
        tmp_path: Path, sonarid: SonarIDSandbox) -> None:
    ledger = TroubledLedger(f"sqlite:///{tmp_path / 'l.db'}", failures=4)
    ledger.enqueue("woocommerce", "shop", [order(str(i), email=f"b{i}@example.com") for i in range(12)], ["sonarid"])
    sender = deliverer(ledger, sonarid)
    report = sender.run_due()
    sender.close()
    assert ledger.failures == 0  # the trouble happened, four times
    assert report.count(State.DELIVERED) == 12
    assert {d.state for d in ledger.deliveries()} == {State.DELIVERED}
    assert all(sonarid.submissions_for(f"wc_{i}") == 1 for i in range(12))
    assert ledger.claims_in_trouble == 0  # the other answers came back meanwhile; nothing new was claimed
    ledger.close()


def test_while_stopping_it_gives_up_after_the_grace_and_the_row_stays_sending(
        tmp_path: Path, sonarid: SonarIDSandbox) -> None:
    ledger = TroubledLedger(f"sqlite:///{tmp_path / 'l.db'}", failures=10**6)
    ledger.enqueue("woocommerce", "shop", [order("1")], ["sonarid"])
    stop = threading.Event()
    sender = deliverer(ledger, sonarid, stop_grace=0.5)
    [claim] = ledger.claim("sonarid", 1, lease=60)
    ledger.troubled = claim.delivery_id
    threading.Timer(0.3, stop.set).start()  # SIGTERM while the outcome waits for the ledger
    with pytest.raises(LedgerUnavailable):
        sender.deliver("sonarid", claim, stop)
    sender.close()
    assert sonarid.submissions_for("wc_1") == 1
    [row] = ledger.deliveries()
    assert row.state == State.SENDING  # resent at the next start, deduplicated by the order id
    ledger.close()
