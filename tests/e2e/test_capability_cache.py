"""The WooCommerce capability probe (OPTIONS on the orders route) is kept in the ledger for an hour:
a quiet `poll` process whose ledger holds a younger answer sends only its listing (issue 13)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from connector.capabilities import Capability
from connector.ledger import utcnow
from connector.sandbox import SonarIDSandbox, WooCommerceSandbox
from connector.sandbox.demo import WC_KEY, WC_SECRET
from tests.e2e.conftest import Connector


def options(wc: WooCommerceSandbox) -> int:
    return sum(1 for r in wc.requests if r.method == "OPTIONS")


def listings(wc: WooCommerceSandbox) -> list[dict[str, list[str]]]:
    return [r.query for r in wc.requests if r.method == "GET" and r.path.endswith("/wc/v3/orders")]


def age(connector: Connector, by: timedelta) -> None:
    ledger = connector.ledger()
    try:
        with ledger.write() as s:
            s.exec(update(Capability).values(checked_at=utcnow() - by))  # type: ignore[call-overload]
    finally:
        ledger.close()


def test_a_second_poll_process_sends_no_probe_and_an_hour_old_answer_is_asked_again(any_connector: Connector) -> None:
    wc = any_connector.wc
    assert wc is not None
    first = any_connector("poll")
    assert first.code == 0, first.err
    assert options(wc) == 1
    requests = len(wc.requests)

    second = any_connector("poll")
    assert second.code == 0, second.err
    assert options(wc) == 1  # the ledger's answer, not asked again
    assert [r.method for r in wc.requests[requests:]] == ["GET"]  # a quiet poll: one request
    assert "modified_after" in listings(wc)[-1]

    age(any_connector, timedelta(minutes=59))
    assert any_connector("poll").code == 0
    assert options(wc) == 1  # younger than an hour: still trusted

    age(any_connector, timedelta(hours=1, seconds=1))
    third = any_connector("poll")
    assert third.code == 0, third.err
    assert options(wc) == 2  # older than an hour: asked again
    fourth = any_connector("poll")
    assert fourth.code == 0, fourth.err
    assert options(wc) == 2  # and the new answer kept


@pytest.fixture
def legacy_wc() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox(WC_KEY, WC_SECRET, wc_version="5.7.0") as server:
        yield server


def test_a_store_without_modified_after_is_remembered_as_such(legacy_wc: WooCommerceSandbox, sonarid: SonarIDSandbox,
                                                              tmp_path: Path) -> None:
    connector = Connector(legacy_wc, sonarid, tmp_path)
    assert connector("poll").code == 0
    second = connector("poll")
    assert second.code == 0, second.err
    assert options(legacy_wc) == 1
    last = listings(legacy_wc)[-1]
    assert "modified_after" not in last and "after" in last  # polled by creation date without asking again
    assert "has no modified_after" in second.err  # and still says so, once per process
