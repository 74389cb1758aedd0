"""WooCommerce edge cases and the other commands, through the CLI against the sandbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from connector.sandbox import SonarIDSandbox, WooCommerceSandbox, sample_woocommerce_orders
from connector.sandbox.demo import SONARID_KEY, WC_KEY, WC_SECRET, fresh_order
from tests.e2e.conftest import Connector


def one(seed: int, **changes: object) -> dict:
    return fresh_order(sample_woocommerce_orders(1, seed=seed)[0]) | changes


def test_a_captcha_page_is_retried_never_read_as_an_empty_page(connector: Connector) -> None:
    order = connector.wc.add_order(one(21))
    connector.wc.faults.add("non_json", path="/wp-json/wc/v3/orders")
    run = connector("poll")
    assert run.code == 0, run.err
    assert connector.states() == {str(order["id"]): "delivered"}


def test_a_store_that_keeps_failing_leaves_the_cursor_where_it_was(connector: Connector) -> None:
    connector.wc.add_order(one(22))
    connector.wc.faults.add("status", status=503, times=50, path="/wp-json/wc/v3/orders")
    run = connector("poll")
    assert run.code == 1
    assert "503" in run.out + run.err
    status = json.loads(connector("status", "--json").out)
    [cursor] = status["cursors"]
    assert cursor["position"] is None and "503" in cursor["last_error"]
    connector.wc.faults.clear()
    assert connector("poll").code == 0
    assert set(connector.states().values()) == {"delivered"}


def test_stores_older_than_5_8_fall_back_to_creation_date(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with WooCommerceSandbox(WC_KEY, WC_SECRET, wc_version="5.7.2") as wc, SonarIDSandbox(SONARID_KEY) as sonarid:
        order = wc.add_order(one(23))
        connector = Connector(wc, sonarid, tmp_path)
        run = connector("poll")
        assert run.code == 0, run.err
        assert "WooCommerce < 5.8" in run.err
        assert connector.states() == {str(order["id"]): "delivered"}
        lists = [r for r in wc.requests if r.method == "GET" and r.path.endswith("/orders")]
        assert lists and all("after" in r.query and "modified_after" not in r.query for r in lists)


def test_backfill_by_creation_date_dry_run_then_real_then_resumed(connector: Connector) -> None:
    now = datetime.now(UTC)
    for order in sample_woocommerce_orders(20, seed=31, now=now - timedelta(days=30)):
        connector.wc.add_order(order)
    paid = {str(o["id"]) for o in connector.wc.orders.values() if o["status"] in ("processing", "completed")}
    since = (now - timedelta(days=40)).date().isoformat()

    dry = connector("backfill", "--since", since, "--dry-run")
    assert dry.code == 0, dry.err
    assert f"would queue {len(paid)} deliveries" in dry.out
    assert connector.states() == {} and connector.sonarid.requests == []

    real = connector("backfill", "--since", since)
    assert real.code == 0, real.err
    assert set(connector.states()) == paid
    assert set(connector.states().values()) <= {"delivered", "skipped"}
    status = json.loads(connector("status", "--json").out)
    assert [c["name"] for c in status["cursors"]] == [f"backfill {since}T00:00:00+00:00..now"]  # live cursor untouched

    again = connector("backfill", "--since", since)
    assert again.code == 0
    assert "queued 0 deliveries" in again.out
    assert all(connector.sonarid.submissions_for(f"wc_{i}") <= 1 for i in paid)


def test_backfill_rejects_a_bad_date_with_one_line(connector: Connector) -> None:
    run = connector("backfill", "--since", "last tuesday")
    assert run.code == 2 and run.err.strip().startswith("error: --since: expected YYYY-MM-DD")


def test_retry_after_is_honoured_and_attempts_never_end_in_dead(connector: Connector) -> None:
    order = connector.wc.add_order(one(24))
    connector.sonarid.faults.add("429", retry_after=120)
    assert connector("poll").code == 0
    [row] = connector.ledger().deliveries()
    assert row.state == "retrying" and row.status_code == 429
    assert row.next_attempt_at is not None
    assert row.next_attempt_at - row.last_attempt_at >= timedelta(seconds=119)
    assert connector("poll").code == 0
    assert connector.states() == {str(order["id"]): "retrying"}  # not due yet: nothing sent
    assert len([r for r in connector.sonarid.requests if r.method == "POST"]) == 1

    retried = connector("retry")
    assert retried.code == 0 and "re-queued 1" in retried.out
    connector.sonarid.faults.add("status", status=503, times=15)  # 5 passes of 3 quick tries
    assert connector("poll", CONNECTOR_MAX_ATTEMPTS="2").code == 0  # retried until CONNECTOR_RETRY_FOR, not 2
    assert len(connector.sonarid.faults) == 0
    [row] = connector.ledger().deliveries()
    assert row.state == "delivered" and row.attempts > 2
    assert connector.sonarid.submissions_for(f"wc_{order['id']}") == 1
    assert connector.sonarid.submissions_for(f"wc_{order['id']}") == 1


@pytest.mark.parametrize("command", [["poll", "--source", "shopify"], ["retry", "--destination", "slack"]])
def test_unknown_names_are_refused(connector: Connector, command: list[str]) -> None:
    run = connector(*command)
    assert run.code == 2 and run.err.count("\n") == 1 and "expected one of" in run.err


def test_status_table_and_a_scoped_retry(connector: Connector) -> None:
    first = connector.wc.add_order(one(41))
    second = connector.wc.add_order(one(42))
    connector.sonarid.faults.add("status", status=503, times=100)
    assert connector("poll", CONNECTOR_RETRY_FOR="1").code == 0  # RETRY_BASE=0: retried in the pass past 1 s
    assert set(connector.states().values()) == {"dead"}

    table = connector("status")
    assert table.code == 0, table.err
    [row] = [line for line in table.out.splitlines() if line.startswith("│ sonarid")]
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    assert cells[:7] == ["sonarid", "0", "0", "0", "0", "2", "0"]  # pending sending delivered retrying dead skipped
    assert "last error sonarid" in table.out and "gave up: still failing" in table.out and "(CONNECTOR_RETRY_FOR is 1s)" in table.out
    assert "woocommerce" in table.out and "live" in table.out  # the source's cursor and last poll

    connector.sonarid.faults.clear()
    scoped = connector("retry", "--destination", "sonarid", "--order", str(first["id"]), "--dead")
    assert scoped.code == 0 and "re-queued 1 deliveries" in scoped.out
    assert connector("poll").code == 0
    assert connector.states() == {str(first["id"]): "delivered", str(second["id"]): "dead"}
