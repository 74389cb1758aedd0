"""What the vendors would refuse is not sent, and what they can take is: through the CLI, over real HTTP
against the sandboxes (issue 8: lines without SKU, e-mails that are not addresses, empty codes, preview)."""

from __future__ import annotations

import json
from typing import Any

from connector.sandbox import SonarIDSandbox, sample_bigcommerce_orders, sample_woocommerce_orders
from tests.e2e.conftest import Connector
from tests.e2e.test_woocommerce_to_all_destinations import (  # noqa: F401 (fixtures)
    Everywhere,
    everywhere,
    one,
    orderprotection,
    sophio,
)

PREVIEW = ("preview", "--source", "woocommerce", "--destination")


def shipped(seed: int, **changes: Any) -> dict[str, Any]:
    order = one(seed, **changes)
    assert order["shipping_lines"] and len(order["line_items"]) >= 2  # something to ship, on several lines
    return order


def test_an_order_with_lines_without_sku_reaches_sophio(everywhere: Everywhere) -> None:
    order = shipped(91)
    order["line_items"][0].update(sku=None, product_id=0, variation_id=0)  # a product deleted since the order
    order["line_items"][1]["sku"] = ""  # a product that never had a SKU
    order = everywhere.wc.add_order(order)
    run = everywhere("poll")
    assert run.code == 0, run.err

    row = everywhere.row("sophio", order["id"])
    assert row.state == "delivered", row.reason or row.message
    [body] = [s for s in everywhere.sophio.submissions if s["orderKey"] == everywhere.order_key(order["id"])]
    deleted, no_sku, *rest = body["items"]
    assert not {"sku", "fulfillmentSku", "productId"} & set(deleted)  # left out, not invented
    first = order["line_items"][0]
    assert (deleted["name"], deleted["quantity"]) == (first["name"], first["quantity"])
    assert "sku" not in no_sku and no_sku["productId"] == order["line_items"][1]["product_id"]
    assert [(i["sku"], i["fulfillmentSku"]) for i in rest] == [(i["sku"], i["sku"]) for i in order["line_items"][2:]]
    assert len(body["items"]) == len(order["line_items"])  # every line, none dropped
    assert everywhere.row("orderprotection", order["id"]).state == "delivered"


def test_an_email_that_is_not_an_address_is_skipped_for_sonarid_and_left_out_elsewhere(
        everywhere: Everywhere) -> None:
    order = shipped(92)
    order["billing"]["email"] = "Mia Lund@example.se"
    order = everywhere.wc.add_order(order)
    run = everywhere("poll")
    assert run.code == 0, run.err

    row = everywhere.row("sonarid", order["id"])
    assert row.state == "skipped"
    assert row.reason.startswith("sonarID requires a valid email") and "SPACE" in row.reason
    assert everywhere.sonarid.requests == []  # never sent to be refused with a 400

    # the e-mail is optional for OrderProtection and Sophio: the order goes, without it
    assert everywhere.row("orderprotection", order["id"]).state == "delivered"
    assert "customerEmail" not in everywhere.orderprotection.orders[str(order["id"])].body
    assert everywhere.row("sophio", order["id"]).state == "delivered"
    fulfilment = everywhere.sophio.orders[everywhere.order_key(order["id"])].body
    assert "customerEmail" not in fulfilment and "customerUsername" not in fulfilment


def test_a_real_address_next_to_it_still_reaches_sonarid(everywhere: Everywhere) -> None:
    good = everywhere.wc.add_order(shipped(93))
    bad = shipped(94)
    bad["billing"]["email"] = "mia.lund@example"  # no top-level domain
    bad = everywhere.wc.add_order(bad)
    assert everywhere("poll").code == 0
    assert everywhere.states("sonarid") == {str(good["id"]): "delivered", str(bad["id"]): "skipped"}
    assert [r.json()["order"]["id"] for r in everywhere.sonarid.requests] == [f"wc_{good['id']}"]


def test_an_empty_billing_country_is_left_out_of_the_sophio_request(everywhere: Everywhere) -> None:
    order = shipped(93)
    order["billing"].update(country="", state="")
    order = everywhere.wc.add_order(order)
    run = everywhere("poll")
    assert run.code == 0, run.err

    row = everywhere.row("sophio", order["id"])
    assert row.state == "delivered", row.message  # the sandbox refuses a country that is not a code, "" included
    [request] = [r for r in everywhere.sophio.requests if r.path == "/createorder.wws"]
    sent = json.loads(request.body)
    assert "country" not in sent["billTo"] and "state" not in sent["billTo"]
    assert sent["billTo"]["street1"] == order["billing"]["address_1"]
    assert sent["shipTo"]["country"] == order["shipping"]["country"]


def test_preview_refuses_a_status_poll_would_not_send(everywhere: Everywhere) -> None:
    base = sample_woocommerce_orders(1, seed=8)[0] | {"id": 1042, "number": "1042"}
    for status in ("cancelled", "on-hold", "refunded"):
        run = everywhere(*PREVIEW, "orderprotection", "-", stdin=json.dumps(base | {"status": status}))
        assert run.code == 2 and run.out == "" and run.err.count("\n") == 1, run
        assert f"status '{status}' is not in WOOCOMMERCE_STATUSES (processing,completed)" in run.err
        assert "--any-status" in run.err
        anyway = everywhere(*PREVIEW, "orderprotection", "--any-status", "-",
                            stdin=json.dumps(base | {"status": status}))
        assert anyway.code == 0, anyway.err
        assert json.loads(anyway.out)["sourceOrderId"] == "1042"
    # the variable is read: a store that sends on processing only
    completed = everywhere(*PREVIEW, "sonarid", "-", stdin=json.dumps(base | {"status": "completed"}),
                           WOOCOMMERCE_STATUSES="processing")
    assert completed.code == 2 and "is not in WOOCOMMERCE_STATUSES (processing)" in completed.err
    assert everywhere(*PREVIEW, "sonarid", "-", stdin=json.dumps(base | {"status": "completed"})).code == 0
    assert everywhere.sonarid.requests == [] and everywhere.orderprotection.requests == []  # no network


def test_preview_refuses_a_bigcommerce_status_id_poll_would_not_send(bc_connector: Connector,
                                                                      sonarid: SonarIDSandbox) -> None:
    listed = sample_bigcommerce_orders(1)[0]
    order = listed | {"status_id": 5, "status": "Cancelled"}  # assembled: its sub-resources are inlined
    args = ("preview", "--source", "bigcommerce", "--destination", "sonarid", "-")
    run = bc_connector(*args, stdin=json.dumps(order))
    assert run.code == 2 and run.err.count("\n") == 1
    assert "status_id 5 (cancelled) is not in BIGCOMMERCE_STATUS_IDS (2,3,8,9,10,11)" in run.err
    anyway = bc_connector(*args[:-1], "--any-status", "-", stdin=json.dumps(order))
    assert anyway.code == 0, anyway.err
    assert json.loads(anyway.out)["order"]["id"] == f"bc_{listed['id']}"
    assert sonarid.requests == []
