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
        assert "reading orders created since" in run.err and "modified since" not in run.err
        assert connector.states() == {str(order["id"]): "delivered"}
        lists = [r for r in wc.requests if r.method == "GET" and r.path.endswith("/orders")]
        assert lists and all("after" in r.query and "modified_after" not in r.query for r in lists)


def test_a_current_store_is_first_polled_by_modification_date(connector: Connector) -> None:
    connector.wc.add_order(one(24))
    run = connector("poll")
    assert run.code == 0, run.err
    assert "reading orders modified since" in run.err


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
    connector.sonarid.faults.add("status", status=422, times=2)
    assert connector("poll").code == 0
    assert set(connector.states().values()) == {"dead"}

    table = connector("status")
    assert table.code == 0, table.err
    assert "sonarid: 0 pending, 0 sending, 0 delivered, 0 retrying, 2 dead, 0 skipped" in table.out.splitlines()
    assert "last error woocommerce #" in table.out and "sonarid refused the order (422)" in table.out
    assert "woocommerce" in table.out and "live" in table.out  # the source's cursor and last poll

    connector.sonarid.faults.clear()
    scoped = connector("retry", "--destination", "sonarid", "--order", str(first["id"]), "--dead")
    assert scoped.code == 0 and "re-queued 1 deliveries" in scoped.out
    assert connector("poll").code == 0
    assert connector.states() == {str(first["id"]): "delivered", str(second["id"]): "dead"}


def test_status_on_a_narrow_terminal_or_a_pipe_cuts_nothing(connector: Connector) -> None:
    order = connector.wc.add_order(one(43))
    connector.sonarid.faults.add("status", status=503, times=100)
    assert connector("poll", CONNECTOR_RETRY_BASE="600").code == 0  # retrying, not due again in this pass
    status = json.loads(connector("status", "--json").out)
    [sonarid] = status["destinations"]
    [cursor] = status["cursors"]
    for extra in ({"COLUMNS": "80"}, {"COLUMNS": "80", "FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}):
        run = connector("status", **extra)
        assert run.code == 0, run.err
        text = run.out
        assert "…" not in text and "..." not in text
        for whole in (cursor["store"], cursor["position"], cursor["last_poll_at"], sonarid["oldest_undelivered"]["since"],
                      sonarid["last_error"]["at"], "sonarid", f"#{order['id']}", "HTTP 503"):
            assert whole in text, (whole, text)
    piped = connector("status", COLUMNS="80")
    assert "\x1b[" not in piped.out and "│" not in piped.out  # plain text when not a terminal
    assert f"backlog 1: oldest woocommerce #{order['id']} (retrying) waiting" in piped.out


def test_show_tells_one_orders_whole_story(connector: Connector) -> None:
    order = connector.wc.add_order(one(44))
    connector.sonarid.faults.add("status", status=503, times=3)  # every quick try of the first attempt
    assert connector("poll").code == 0
    store = json.loads(connector("status", "--json").out)["cursors"][0]["store"]
    shown = connector("show", str(order["id"]))
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[0].startswith(f"woocommerce {store} order {order['id']}")
    assert f"total {order['total']} {order['currency']}" in shown.out
    [line] = [line for line in lines if line.startswith("  sonarid: ")]
    assert line.startswith("  sonarid: delivered, reference ") and ", 2 attempts" in line
    answers = [line.split(" ", 5)[5] for line in lines if line.startswith("    20")]
    assert answers[0].startswith("retrying: HTTP 503") and answers[-1].startswith("delivered: HTTP 20")

    story = json.loads(connector("show", str(order["id"]), "--source", "woocommerce", "--json").out)
    [record] = story
    [delivery] = record["deliveries"]
    assert [a["state"] for a in delivery["answers"]] == ["retrying", "delivered"]
    assert delivery["answers"][0]["status_code"] == 503

    missing = connector("show", "999999")
    assert missing.code == 2 and missing.err.count("\n") == 1 and "not in the ledger" in missing.err


@pytest.mark.parametrize("command", [["check"], ["poll"]])
def test_a_url_other_than_the_stores_own_address_is_named_not_the_key(connector: Connector,
                                                                       command: list[str]) -> None:
    """Over plain HTTP WooCommerce signs its own address: `localhost` for a store at 127.0.0.1 is a 401
    "Invalid signature", which must point at WOOCOMMERCE_URL, not at the key and secret."""
    connector.wc.add_order(one(25))
    elsewhere = connector.wc.url.replace("127.0.0.1", "localhost")
    run = connector(*command, WOOCOMMERCE_URL=elsewhere)
    assert run.code == (2 if command == ["check"] else 1)
    output = run.out + run.err
    assert "Invalid signature - provided signature does not match." in output
    assert f"WOOCOMMERCE_URL is {elsewhere} but the store's own address is {connector.wc.url}" in output
    assert "WOOCOMMERCE_URL must be exactly the store's address" in output
    assert "WOOCOMMERCE_CONSUMER_KEY" not in output and WC_SECRET not in output
    assert connector.states() == {}
    assert connector(*command).code == 0  # the store's own address works


def test_a_wrong_secret_over_plain_http_names_the_url_and_then_the_secret(connector: Connector) -> None:
    run = connector("check", WOOCOMMERCE_CONSUMER_SECRET="cs_not_the_secret")
    assert run.code == 2
    output = run.out + run.err
    assert "Invalid signature" in output and "WOOCOMMERCE_URL must be exactly the store's address" in output
    assert "if it is, check WOOCOMMERCE_CONSUMER_SECRET" in output and "cs_not_the_secret" not in output


def test_a_poll_while_another_instance_holds_the_store_says_so_and_only_delivers(connector: Connector) -> None:
    order = connector.wc.add_order(one(45))
    assert connector("poll").code == 0  # the ledger exists, the store is known
    store = json.loads(connector("status", "--json").out)["cursors"][0]["store"]
    later = connector.wc.add_order(one(46))
    ledger = connector.ledger()
    try:
        held, _ = ledger.take_poll("woocommerce", store, ttl=600)  # this test's process: a live instance
        assert held
        run = connector("poll")
    finally:
        ledger.release_polls()
        ledger.close()
    assert run.code == 0, run.err
    assert f"woocommerce {store}: not polled, another instance (" in run.out and "this run only delivered" in run.out
    assert str(later["id"]) not in connector.states()  # the store was not read by this run
    assert connector.states() == {str(order["id"]): "delivered"}
    assert connector("poll").code == 0  # released: polled again
    assert connector.states()[str(later["id"])] == "delivered"
