"""WooCommerce → ledger → sonarID over real HTTP against the sandbox, through the CLI."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from connector.sandbox import sample_woocommerce_orders
from connector.sandbox.demo import fresh_order
from tests.e2e.conftest import Connector
from tests.waiting import wait_for

PAID = ("processing", "completed")


def paid_ids(connector: Connector) -> set[str]:
    return {str(o["id"]) for o in connector.wc.orders.values() if o["status"] in PAID}


def load(connector: Connector, count: int = 24, **kwargs: object) -> None:
    """Orders placed just now (the sample's own dates are days old, outside a first poll's window)."""
    for order in sample_woocommerce_orders(count, **kwargs):  # type: ignore[arg-type]
        connector.wc.add_order(fresh_order(order, order["status"]))


def one(seed: int, **changes: object) -> dict:
    return fresh_order(sample_woocommerce_orders(1, seed=seed)[0]) | changes


def test_two_polls_deliver_each_paid_order_exactly_once(connector: Connector) -> None:
    load(connector)
    first = connector("poll")
    assert first.code == 0, first.err
    second = connector("poll")
    assert second.code == 0, second.err

    states = connector.states()
    assert set(states) == paid_ids(connector)  # unpaid orders are never enqueued
    delivered = {order_id for order_id, state in states.items() if state == "delivered"}
    skipped = {order_id for order_id, state in states.items() if state == "skipped"}
    assert delivered | skipped == paid_ids(connector)
    for order_id in delivered:
        assert connector.sonarid.submissions_for(f"wc_{order_id}") == 1
    assert len(connector.sonarid.submissions) == len(delivered)
    # the second poll re-read the look-back window and sent nothing
    assert "0 new" in second.out


def test_an_order_paid_after_the_first_poll_is_delivered(connector: Connector) -> None:
    load(connector)
    pending = next(o for o in connector.wc.orders.values() if o["status"] == "pending")
    pending["billing"]["email"] = pending["billing"]["email"] or "late.payer@example.com"
    assert connector("poll").code == 0
    assert str(pending["id"]) not in connector.states()

    connector.wc.update_order(pending["id"], status="processing")
    assert connector("poll").code == 0
    assert connector.states()[str(pending["id"])] == "delivered"
    assert connector.sonarid.submissions_for(f"wc_{pending['id']}") == 1


def test_a_500_then_success_is_delivered_once(connector: Connector) -> None:
    order = connector.wc.add_order(one(3))
    connector.sonarid.faults.add("status", status=500)
    run = connector("poll")
    assert run.code == 0, run.err
    assert connector.states() == {str(order["id"]): "delivered"}
    assert connector.sonarid.submissions_for(f"wc_{order['id']}") == 1
    assert len([r for r in connector.sonarid.requests if r.method == "POST"]) == 2  # the 500 and the success


def test_a_400_is_dead_with_sonarids_message(connector: Connector) -> None:
    order = one(4)
    order["billing"] = {**order["billing"], "email": "someone@mailinator.com"}
    order = connector.wc.add_order(order)
    assert connector("poll").code == 0
    [row] = connector.ledger().deliveries()
    assert row.state == "dead" and row.status_code == 400
    assert "Invalid or disposable email" in (row.message or "")
    status = json.loads(connector("status", "--json").out)
    [sonar] = [d for d in status["destinations"] if d["destination"] == "sonarid"]
    assert sonar["counts"]["dead"] == 1
    assert "disposable" in sonar["last_error"]["reason"]


def test_a_401_pauses_sonarid_and_drops_nothing(connector: Connector) -> None:
    load(connector)
    refused = connector("poll", SONARID_API_KEY="sk_live_wrong_key_123")
    assert refused.code == 1
    assert "PAUSED sonarid" in refused.err and "SONARID_API_KEY" in refused.err
    assert "sk_live_wrong_key_123" not in refused.err + refused.out
    # paused at the first refusal: only the requests already in flight (CONNECTOR_CONCURRENCY=4) went out
    assert 1 <= len([r for r in connector.sonarid.requests if r.method == "POST"]) <= 4
    states = connector.states()
    assert set(states) == paid_ids(connector)
    assert set(states.values()) <= {"pending", "retrying"}
    ledger = connector.ledger()
    assert all(row.attempts == 0 for row in ledger.deliveries())  # refusals do not count towards `dead`

    fixed = connector("poll")
    assert fixed.code == 0, fixed.err
    assert set(connector.states().values()) <= {"delivered", "skipped"}


def test_a_crash_between_send_and_record_resends_once_and_ends_delivered(connector: Connector) -> None:
    order = connector.wc.add_order(one(5))
    connector.sonarid.faults.add("slow", delay=1.5, path="/api/v1/orders")
    process = connector.popen("poll")
    wait_for(lambda: any(r.method == "POST" for r in connector.sonarid.requests) or process.poll() is not None,
             "the submission to reach sonarID")
    assert process.poll() is None, "poll ended before its request reached sonarID"
    process.send_signal(signal.SIGKILL)  # the request is in sonarID's hands; our answer never comes back
    process.wait(10)
    wait_for(lambda: connector.sonarid.submissions_for(f"wc_{order['id']}"), "sonarID to finish processing it")
    assert connector.sonarid.submissions_for(f"wc_{order['id']}") == 1
    assert connector.states() == {str(order["id"]): "sending"}
    first_reference = connector.sonarid.orders[f"wc_{order['id']}"]

    again = connector("poll")
    assert again.code == 0, again.err
    [row] = connector.ledger().deliveries()
    assert row.state == "delivered" and row.ambiguous_attempts == 1
    assert connector.sonarid.submissions_for(f"wc_{order['id']}") == 2  # resent once …
    assert len(connector.sonarid.orders) == 1  # … and deduplicated by sonarID on order.id
    assert first_reference is not None


def test_a_malformed_order_is_recorded_and_the_rest_go_on(connector: Connector) -> None:
    load(connector, 12, include_malformed=True)
    bad = next(o for o in connector.wc.orders.values() if o["total"] == "12,34O")
    run = connector("poll")
    assert run.code == 0, run.err
    assert "1 malformed" in run.out
    states = connector.states()
    assert states.pop(str(bad["id"])) == "dead"
    assert set(states.values()) <= {"delivered", "skipped"} and "delivered" in states.values()
    [row] = connector.ledger().deliveries(order_id=str(bad["id"]))
    assert "malformed order" in (row.reason or "") and "12,34O" in (row.reason or "")


def test_no_secret_in_logs_status_or_ledger(connector: Connector, tmp_path: Path) -> None:
    load(connector, 6)
    secret = "cs_canary_9f8e7d6c5b4a"
    runs = [
        connector("poll", CONNECTOR_LOG_LEVEL="DEBUG"),
        # query-string auth to an https port that refuses: requests puts the full URL in its error
        connector("poll", CONNECTOR_LOG_LEVEL="DEBUG", WOOCOMMERCE_URL="https://127.0.0.1:9",
                  WOOCOMMERCE_QUERY_STRING_AUTH="true", WOOCOMMERCE_CONSUMER_SECRET=secret),
        connector("status"), connector("status", "--json"),
    ]
    assert runs[1].code == 1
    everything = "".join(r.out + r.err for r in runs) + connector.database.read_bytes().decode("latin-1")
    for wal in tmp_path.glob("connector.db*"):
        everything += wal.read_bytes().decode("latin-1")
    for value in (secret, "cs_sandbox_secret", "sk_test_sandbox"):
        assert value not in everything
    assert "consumer_secret=***" in runs[1].err or "ConnectionError" in runs[1].err


def test_preview_prints_the_payload_and_refuses_what_cannot_be_mapped(connector: Connector, tmp_path: Path) -> None:
    order = sample_woocommerce_orders(1, seed=8)[0] | {"id": 1042, "number": "1042", "status": "processing"}
    good = connector("preview", "--source", "woocommerce", "--destination", "sonarid", "-", stdin=json.dumps(order))
    assert good.code == 0, good.err
    assert json.loads(good.out)["order"]["id"] == "wc_1042"
    assert connector.sonarid.requests == []  # no network
    order["billing"] = {**order["billing"], "email": ""}
    skipped = connector("preview", "--source", "woocommerce", "--destination", "sonarid", "-", stdin=json.dumps(order))
    assert skipped.code == 2 and skipped.err.count("\n") == 1 and "email" in skipped.err


def test_a_bad_setting_stops_start_up_with_one_line(connector: Connector) -> None:
    run = connector("poll", CONNECTOR_POLL_INTERVAL="often")
    assert run.code == 2
    assert run.err.strip() == "error: CONNECTOR_POLL_INTERVAL: expected a number >= 1 (got 'often')"
