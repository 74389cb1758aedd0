"""BigCommerce → ledger → sonarID over real HTTP against the sandbox, through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.sandbox import BigCommerceSandbox, SonarIDSandbox, sample_bigcommerce_orders
from connector.sandbox.bigcommerce_data import order_with_lines
from connector.sandbox.demo import BC_HASH, BC_TOKEN
from tests.e2e.conftest import Connector

PAID = (2, 3, 8, 9, 10, 11)  # BIGCOMMERCE_STATUS_IDS' default


def fresh(order: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A sample order as if placed just now: no id, no dates (the store assigns them)."""
    return {k: v for k, v in order.items() if not k.startswith("date_") and k != "id"} | changes


def load(bc: BigCommerceSandbox, count: int = 16, seed: int = 7) -> None:
    for order in sample_bigcommerce_orders(count, seed=seed):
        bc.add_order(fresh(order))


def paid_ids(bc: BigCommerceSandbox) -> set[str]:
    return {str(o["id"]) for o in bc.orders.values() if o["status_id"] in PAID}


def test_repeated_polls_deliver_each_paid_order_once(bc_connector: Connector, bc: BigCommerceSandbox) -> None:
    load(bc)
    first = bc_connector("poll")
    assert first.code == 0, first.err
    bc.reset_requests()
    second = bc_connector("poll")
    assert second.code == 0, second.err
    # the look-back window is read again, but what the ledger holds unchanged is not fetched again
    assert [r.path for r in bc.requests] == [f"/stores/{BC_HASH}/v2/orders"]
    assert bc_connector("poll").code == 0

    states = bc_connector.states()
    assert set(states) == paid_ids(bc) and set(states.values()) == {"delivered"}
    for order_id in states:
        assert bc_connector.sonarid.submissions_for(f"bc_{order_id}") == 1
    assert len(bc_connector.sonarid.submissions) == len(states)
    assert "0 new" in second.out
    assert bc.refused == 0


def test_an_order_that_starts_incomplete_is_delivered_once_paid(bc_connector: Connector, bc: BigCommerceSandbox) -> None:
    template = sample_bigcommerce_orders(1, seed=5)[0]
    order = bc.add_order(fresh(template, status_id=0, status="Incomplete", payment_status=""))
    assert bc_connector("poll").code == 0
    assert bc_connector.states() == {}

    bc.update_order(order["id"], status_id=11, payment_status="captured")  # the same id, now Awaiting Fulfillment
    assert bc_connector("poll").code == 0
    assert bc_connector("poll").code == 0
    assert bc_connector.states() == {str(order["id"]): "delivered"}
    assert bc_connector.sonarid.submissions_for(f"bc_{order['id']}") == 1
    snapshot = json.loads(bc_connector.ledger().order("bigcommerce", BC_HASH, str(order["id"])).data)  # type: ignore[union-attr]
    assert (snapshot["status"], snapshot["status_id"]) == ("awaiting_fulfillment", 11)


def test_an_order_with_300_lines_arrives_with_all_300(bc_connector: Connector, bc: BigCommerceSandbox,
                                                       tmp_path: Path) -> None:
    big = bc.add_order(fresh(order_with_lines(300)))
    run = bc_connector("poll")
    assert run.code == 0, run.err
    stored = bc_connector.ledger().order("bigcommerce", BC_HASH, str(big["id"]))
    assert stored is not None
    items = json.loads(stored.data)["items"]
    assert len(items) == 300 and len({item["id"] for item in items}) == 300
    assert bc_connector.sonarid.submissions_for(f"bc_{big['id']}") == 1

    # preview reads the same assembled shape, with no network
    bc.reset_requests()
    (tmp_path / "order.json").write_text(json.dumps(bc.get_order(big["id"])))
    preview = bc_connector("preview", "--source", "bigcommerce", "--destination", "sonarid", str(tmp_path / "order.json"))
    assert preview.code == 0, preview.err
    assert json.loads(preview.out)["order"]["id"] == f"bc_{big['id']}"
    assert bc.requests == []


def test_preview_refuses_an_order_whose_sub_resources_are_links(bc_connector: Connector) -> None:
    listed = sample_bigcommerce_orders(1)[0] | {"products": {"url": "https://api.bigcommerce.com/stores/x/v2/orders/101/products",
                                                             "resource": "/orders/101/products"}}
    run = bc_connector("preview", "--source", "bigcommerce", "--destination", "sonarid", "-", stdin=json.dumps(listed))
    assert run.code == 2 and run.err.count("\n") == 1
    assert "products is a link" in run.err and "inline the array" in run.err


def test_a_quota_of_a_few_requests_is_respected_and_nothing_is_lost(sonarid: SonarIDSandbox, tmp_path: Path) -> None:
    # 8 requests per 0.4 s, 3 of which the store's other apps take as each window opens: 4 left for us
    with BigCommerceSandbox(BC_HASH, BC_TOKEN, quota=8, window_ms=400, other_apps=3) as small:
        for order in sample_bigcommerce_orders(10, seed=21):
            small.add_order(fresh(order))
        connector = Connector(None, sonarid, tmp_path, bc=small)
        run = connector("poll")
        assert run.code == 0, run.err
        assert small.refused == 0  # paced on Requests-Left, not on the nominal quota
        states = connector.states()
        assert set(states) == paid_ids(small) and set(states.values()) == {"delivered"}
        assert len(small.requests) > 3 * 4  # several windows' worth


def test_a_store_answering_204_polls_quietly(bc_connector: Connector, bc: BigCommerceSandbox) -> None:
    run = bc_connector("poll")
    assert run.code == 0
    assert not [line for line in run.err.splitlines() if " INFO " not in line], run.err  # no warning, no error
    assert f"bigcommerce {BC_HASH}: 0 seen, 0 new" in run.out
    assert len(bc.requests) == 1  # one listing, answered 204
    status = json.loads(bc_connector("status", "--json").out)
    [cursor] = status["cursors"]
    assert (cursor["source"], cursor["store"], cursor["name"]) == ("bigcommerce", BC_HASH, "live")
    assert cursor["last_error"] is None and cursor["position"] is not None


def test_backfill_by_creation_date_shows_its_expected_duration(bc_connector: Connector, bc: BigCommerceSandbox) -> None:
    for order in sample_bigcommerce_orders(20, seed=9):
        bc.add_order(order)  # created over the last three days
    since = (datetime.now(UTC) - timedelta(days=4)).strftime("%Y-%m-%d")
    run = bc_connector("backfill", "--since", since, "--source", "bigcommerce")
    assert run.code == 0, run.err
    assert "bigcommerce: " in run.err and "expected ≤" in run.err and "135 requests per 30 s" in run.err
    states = bc_connector.states()
    assert set(states) == paid_ids(bc) and set(states.values()) == {"delivered"}

    status = json.loads(bc_connector("status", "--json").out)
    names = {c["name"] for c in status["cursors"]}
    assert "live" not in names and any(name.startswith("backfill ") for name in names)  # the live cursor untouched
    poll = bc_connector("poll")
    assert poll.code == 0 and "0 new" in poll.out
    everything = "".join(r.out + r.err for r in bc_connector.runs) + bc_connector.database.read_bytes().decode("latin-1")
    assert BC_TOKEN not in everything
