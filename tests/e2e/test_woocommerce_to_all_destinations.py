"""WooCommerce → ledger → sonarID, OrderProtection and Sophio over real HTTP against the sandbox, through the CLI."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from connector.config import Secret, SophioSettings, WooCommerceSettings
from connector.destinations.sophio import Sophio
from connector.sandbox import (
    OrderProtectionSandbox,
    SonarIDSandbox,
    SophioSandbox,
    WooCommerceSandbox,
    sample_woocommerce_orders,
)
from connector.sandbox.demo import (
    ORDERPROTECTION_TOKEN,
    SOPHIO_KEY,
    SOPHIO_SECRET,
    fresh_order,
    orderprotection_env,
    sophio_env,
)
from connector.sources.woocommerce import WooCommerce
from tests.e2e.conftest import Connector
from tests.test_cassettes import recorder

PAID = ("processing", "completed")
DESTINATIONS = ("sonarid", "orderprotection", "sophio")


@pytest.fixture
def orderprotection() -> Iterator[OrderProtectionSandbox]:
    with OrderProtectionSandbox(ORDERPROTECTION_TOKEN) as server:
        yield server
    assert server.errors == []


@pytest.fixture
def sophio() -> Iterator[SophioSandbox]:
    with SophioSandbox(SOPHIO_KEY, SOPHIO_SECRET) as server:
        yield server
    assert server.errors == []


class Everywhere(Connector):
    """The CLI with all three destinations on, each pointed at its sandbox."""

    def __init__(self, wc: WooCommerceSandbox, sonarid: SonarIDSandbox, orderprotection: OrderProtectionSandbox,
                 sophio: SophioSandbox, tmp: Path) -> None:
        super().__init__(wc, sonarid, tmp)
        self.orderprotection, self.sophio = orderprotection, sophio
        self.env |= orderprotection_env(orderprotection) | sophio_env(sophio)

    def order_key(self, order_id: int | str) -> str:
        return f"wc-{self.wc.url.removeprefix('http://')}-{order_id}"

    def row(self, destination: str, order_id: int | str) -> Any:
        ledger = self.ledger()
        try:
            [row] = ledger.deliveries(destination=destination, order_id=str(order_id))
            return row
        finally:
            ledger.close()


@pytest.fixture
def everywhere(wc: WooCommerceSandbox, sonarid: SonarIDSandbox, orderprotection: OrderProtectionSandbox,
               sophio: SophioSandbox, tmp_path: Path) -> Everywhere:
    return Everywhere(wc, sonarid, orderprotection, sophio, tmp_path)


def one(seed: int, **changes: Any) -> dict[str, Any]:
    return fresh_order(sample_woocommerce_orders(1, seed=seed)[0]) | changes


def paid(connector: Connector) -> dict[str, dict[str, Any]]:
    return {str(o["id"]): o for o in connector.wc.orders.values() if o["status"] in PAID}


def test_each_paid_order_reaches_each_destination_once(everywhere: Everywhere) -> None:
    for order in sample_woocommerce_orders(24, seed=21):
        everywhere.wc.add_order(fresh_order(order, order["status"]))
    first, second = everywhere("poll"), everywhere("poll")
    assert first.code == 0, first.err
    assert second.code == 0, second.err
    assert "0 new" in second.out

    orders = paid(everywhere)
    for destination in DESTINATIONS:
        states = everywhere.states(destination)
        assert set(states) == set(orders), destination  # every paid order, no unpaid one
        assert set(states.values()) <= {"delivered", "skipped"}, destination
    # OrderProtection takes every paid order (all in listed currencies), once each
    op = everywhere.orderprotection
    assert set(everywhere.states("orderprotection").values()) == {"delivered"}
    assert set(op.orders) == set(orders)
    assert all(op.submissions_for(order_id) == 1 for order_id in orders)
    # Sophio takes the paid orders still to ship (processing), once each; completed ones are skipped
    sophio_states = everywhere.states("sophio")
    for order_id, order in orders.items():
        expected = "delivered" if order["status"] == "processing" else "skipped"
        assert sophio_states[order_id] == expected, order_id
    delivered = [order_id for order_id, state in sophio_states.items() if state == "delivered"]
    assert delivered and all(everywhere.sophio.submissions_for(everywhere.order_key(o)) == 1 for o in delivered)
    assert len(everywhere.sophio.orders) == len(delivered)
    # the reference kept is Sophio's orderId
    for order_id in delivered:
        key = everywhere.order_key(order_id)
        assert everywhere.row("sophio", order_id).reference == str(everywhere.sophio.orders[key].order_id)
    completed = next(o for o, order in orders.items() if order["status"] == "completed")
    assert "status 'completed' is not in SOPHIO_STATUSES" in everywhere.row("sophio", completed).reason


def test_payloads_carry_the_orders_values_exactly(everywhere: Everywhere) -> None:
    order = everywhere.wc.add_order(one(31, fee_lines=[{
        "id": 90, "name": "Order Protection", "tax_class": "", "tax_status": "none", "total": "2.50",
        "total_tax": "0.00", "taxes": [], "meta_data": []}]))
    order = everywhere.wc.update_order(order["id"], total=str(Decimal(order["total"]) + Decimal("2.50")))
    assert everywhere("poll").code == 0

    protected = everywhere.orderprotection.orders[str(order["id"])].body
    assert protected["premiumPaid"] == Decimal("2.50")
    assert protected["total"] == Decimal(order["total"]) - Decimal("2.50")
    assert protected["subtotal"] == sum(Decimal(i["subtotal"]) for i in order["line_items"])
    assert protected["currency"] == order["currency"] and protected["platformId"] == "woocommerce"
    assert [i["sku"] for i in protected["orderItems"]] == [i["sku"] for i in order["line_items"]]

    fulfilment = everywhere.sophio.orders[everywhere.order_key(order["id"])].body
    assert fulfilment["orderNumber"] == order["number"] and fulfilment["orderStatus"] == "awaiting_shipment"
    assert fulfilment["amountPaid"] == Decimal(order["total"])
    assert fulfilment["shipTo"]["street1"] == order["shipping"]["address_1"]
    assert [(i["sku"], i["quantity"]) for i in fulfilment["items"]] == [
        (i["sku"], i["quantity"]) for i in order["line_items"]]
    assert fulfilment["AdvancedOptions"] == {"customField1": "woocommerce", "customField2": str(order["id"])}


def test_ineligible_orders_are_skipped_with_reasons(everywhere: Everywhere) -> None:
    rare_currency = everywhere.wc.add_order(one(41, currency="ZWG"))
    digital = everywhere.wc.add_order(one(42, shipping_lines=[]))
    run = everywhere("poll")
    assert run.code == 0, run.err

    row = everywhere.row("orderprotection", rare_currency["id"])
    assert row.state == "skipped" and "does not accept currency ZWG" in row.reason
    assert everywhere.row("sophio", digital["id"]).reason.endswith("the order needs no shipping")
    assert str(rare_currency["id"]) not in everywhere.orderprotection.orders
    assert [s["orderKey"] for s in everywhere.sophio.submissions] == [everywhere.order_key(rare_currency["id"])]
    assert everywhere.states("sonarid") == {str(o["id"]): "delivered" for o in (rare_currency, digital)}


def test_500s_are_retried_and_delivered_once(everywhere: Everywhere) -> None:
    order = everywhere.wc.add_order(one(51))
    everywhere.orderprotection.faults.add("status", status=500)
    everywhere.sophio.faults.add("status", status=503, retry_after=0)
    run = everywhere("poll")
    assert run.code == 0, run.err
    assert everywhere.row("orderprotection", order["id"]).state == "delivered"
    assert everywhere.row("sophio", order["id"]).state == "delivered"
    assert len(everywhere.orderprotection.requests) == 2
    assert everywhere.orderprotection.submissions_for(order["id"]) == 1
    assert len(everywhere.sophio.requests) == 2 and len(everywhere.sophio.orders) == 1


def test_a_lost_answer_is_resent_and_recognised_by_the_order_key(everywhere: Everywhere) -> None:
    order = everywhere.wc.add_order(one(55))
    everywhere.sophio.faults.add("drop_after")  # Sophio creates the order, the answer never comes back
    everywhere.orderprotection.faults.add("drop_after")
    assert everywhere("poll").code == 0
    sophio = everywhere.row("sophio", order["id"])
    assert (sophio.state, sophio.ambiguous_attempts) == ("delivered", 1)
    key = everywhere.order_key(order["id"])
    assert everywhere.sophio.submissions_for(key) == 2 and len(everywhere.sophio.orders) == 1  # resent, not re-created
    assert sophio.reference == str(everywhere.sophio.orders[key].order_id)
    assert everywhere.orderprotection.submissions_for(order["id"]) == 2 and len(everywhere.orderprotection.orders) == 1


def test_4xx_is_dead_with_the_vendors_message(everywhere: Everywhere) -> None:
    order = everywhere.wc.add_order(one(61))
    everywhere.orderprotection.refuse(order["id"], "Order already has an active protection plan")
    everywhere.sophio.refuse(everywhere.order_key(order["id"]), "Part VIC-OS32372 is not stocked by this store")
    assert everywhere("poll").code == 0

    op = everywhere.row("orderprotection", order["id"])
    assert (op.state, op.status_code) == ("dead", 422)
    assert op.message == "Unprocessable Entity: Order already has an active protection plan"
    sophio = everywhere.row("sophio", order["id"])
    assert (sophio.state, sophio.status_code) == ("dead", 400)
    assert sophio.message == "Part VIC-OS32372 is not stocked by this store"
    assert len(everywhere.orderprotection.requests) == 1 and len(everywhere.sophio.requests) == 1  # not retried
    status = json.loads(everywhere("status", "--json").out)
    last = {d["destination"]: d["last_error"] for d in status["destinations"]}
    assert "active protection plan" in last["orderprotection"]["reason"]
    assert everywhere.row("sonarid", order["id"]).state == "delivered"


def test_a_refused_sophio_credential_pauses_only_sophio(everywhere: Everywhere) -> None:
    order = everywhere.wc.add_order(one(71))
    run = everywhere("poll", SOPHIO_API_SECRET="not_the_secret")
    assert run.code == 1
    assert "PAUSED sophio" in run.err and "SOPHIO_API_KEY / SOPHIO_API_SECRET" in run.err
    assert everywhere.row("sophio", order["id"]).state == "retrying"
    assert everywhere.row("orderprotection", order["id"]).state == "delivered"
    assert everywhere("poll").code == 0
    assert everywhere.row("sophio", order["id"]).state == "delivered"


def test_preview_prints_each_payload_and_refuses_what_cannot_be_mapped(everywhere: Everywhere) -> None:
    order = sample_woocommerce_orders(1, seed=8)[0] | {"id": 1042, "number": "1042", "status": "processing"}
    args = ("preview", "--source", "woocommerce", "--destination")
    protected = everywhere(*args, "orderprotection", "-", stdin=json.dumps(order))
    assert protected.code == 0, protected.err
    goods = Decimal(order["total"]) - sum((Decimal(f["total"]) for f in order["fee_lines"]), Decimal("0"))
    assert f'"total": {goods},' in protected.out  # a JSON number with the exact digits, the premium left out
    fulfilment = everywhere(*args, "sophio", "-", stdin=json.dumps(order))
    assert fulfilment.code == 0, fulfilment.err
    assert json.loads(fulfilment.out)["orderKey"] == everywhere.order_key(1042)
    assert everywhere.orderprotection.requests == [] and everywhere.sophio.requests == []  # no network

    completed = everywhere(*args, "sophio", "-", stdin=json.dumps(order | {"status": "completed"}))
    assert completed.code == 2 and completed.err.count("\n") == 1
    assert "status 'completed' is not in SOPHIO_STATUSES" in completed.err
    foreign = everywhere(*args, "orderprotection", "-", stdin=json.dumps(order | {"currency": "ZWG"}))
    assert foreign.code == 2 and foreign.err.count("\n") == 1 and "currency ZWG" in foreign.err


def test_canary_secrets_never_reach_any_output(everywhere: Everywhere, tmp_path: Path) -> None:
    """Everything a run writes — stdout, stderr (the log, text and JSON), the ledger and its WAL, a cassette —
    is searched for the credentials, in every form they travel in."""
    key, secret, token = "sophio_canary_key_7f3a", "sophio_canary_secret_9b2c", "op_canary_token_5d1e"
    pair = base64.b64encode(f"{key}:{secret}".encode()).decode()
    forms = {key, secret, token, pair, quote(pair, safe=""), base64.b64encode(key.encode()).decode(),
             base64.b64encode(secret.encode()).decode(), base64.b64encode(token.encode()).decode()}
    everywhere.sophio.api_key, everywhere.sophio.api_secret = key, secret
    everywhere.orderprotection.api_token = token
    everywhere.env |= {"SOPHIO_API_KEY": key, "SOPHIO_API_SECRET": secret, "ORDERPROTECTION_API_TOKEN": token,
                       "CONNECTOR_LOG_LEVEL": "DEBUG"}
    for seed in (81, 82):
        everywhere.wc.add_order(one(seed))

    delivered = everywhere("poll")
    assert delivered.code == 0, delivered.err
    everywhere.wc.add_order(one(83))
    everywhere.sophio.api_secret = "rotated_by_the_store"  # Sophio now refuses, repeating the query string it got
    refused = everywhere("poll", CONNECTOR_LOG_FORMAT="json")
    assert refused.code == 1 and "PAUSED sophio" in refused.err
    assert "authentication=***" in refused.err  # what Sophio repeated back was redacted on the way to the log
    assert ["authentication=***" in (row.message or "") for row in everywhere.ledger().deliveries(
        destination="sophio", state="retrying")] == [True]  # and in the ledger
    # connection refused: one pass of quick tries, then the row waits (CONNECTOR_RETRY_BASE)
    unreachable = everywhere("poll", SOPHIO_STORE_URL="https://127.0.0.1:9", CONNECTOR_RETRY_BASE="600")
    assert "ConnectError" in unreachable.err
    runs = [delivered, refused, unreachable, everywhere("status"), everywhere("status", "--json")]

    cassette = tmp_path / "sophio_canary.yaml"  # recorded in-process, with the filters every cassette uses
    everywhere.sophio.api_secret = secret
    destination = Sophio(SophioSettings(store_url=everywhere.sophio.url, api_key=Secret(key),
                                        api_secret=Secret(secret)))
    store = WooCommerce(WooCommerceSettings(url=everywhere.wc.url, consumer_key=Secret("ck_x"),
                                            consumer_secret=Secret("cs_x")))
    payload = destination.build(store.parse(next(iter(everywhere.wc.orders.values()))))
    with recorder.use_cassette(str(cassette), record_mode="all"), destination.client(10) as client:
        assert destination.send(client, payload).status_code == 200

    # the credentials were really used, and what was shown was redacted rather than never there
    assert everywhere.sophio.orders and all(r.query["authentication"] in ([pair], [quote(pair, safe="=/")])
                                            for r in everywhere.sophio.requests[:2])
    assert everywhere.orderprotection.requests[0].header("authorization") == f"Bearer {token}"

    written = "".join(run.out + run.err for run in runs) + cassette.read_text()
    for path in tmp_path.glob("connector.db*"):  # the database, its -wal and -shm
        written += path.read_bytes().decode("latin-1")
    assert "Invalid authentication" in written and "REDACTED" in cassette.read_text()
    leaked = [form for form in forms if form in written]
    assert leaked == []


def line(item_id: int, product_id: int, variation_id: int = 0, quantity: int = 1) -> dict[str, Any]:
    return {"id": item_id, "name": f"Item {item_id}", "product_id": product_id, "variation_id": variation_id,
            "quantity": quantity, "tax_class": "", "subtotal": "10.00", "subtotal_tax": "0.00", "total": "10.00",
            "total_tax": "0.00", "taxes": [], "meta_data": [], "sku": f"SKU-{item_id}", "price": 10.0 / quantity,
            "image": {"id": "", "src": ""}, "parent_name": None}


def with_lines(seed: int, lines: list[dict[str, Any]]) -> dict[str, Any]:
    order = one(seed, coupon_lines=[], fee_lines=[], discount_total="0.00", discount_tax="0.00")
    total = (sum(Decimal(i["total"]) for i in lines) + Decimal(order["shipping_total"])
             + Decimal(order["shipping_tax"]))
    return order | {"line_items": lines, "total": str(total), "total_tax": order["shipping_tax"], "tax_lines": []}


@pytest.mark.parametrize(("unit", "sophio_unit", "factor"), [
    ("kg", "pounds", Decimal("0.45359237")), ("g", "ounces", Decimal("28.349523125")),
    ("lbs", "pounds", None), ("oz", "ounces", None),
])
def test_sophio_gets_woocommerce_weights_from_the_catalogue(everywhere: Everywhere, unit: str, sophio_unit: str,
                                                            factor: Decimal | None) -> None:
    """WooCommerce orders carry no weights: the products' (and variations') weights reach Sophio, per item
    and summed for the order, converted to pounds or ounces; a line whose product is gone goes without."""
    wc = everywhere.wc
    wc.weight_unit = unit
    wc.products[33]["weight"] = "2"  # a simple product
    wc.products[32]["weight"] = "3"  # a variable one: 3204 (XL) has its own weight, 3201 inherits the parent's
    wc.variations[3204]["weight"] = "4"
    wc.variations[3201]["weight"] = ""
    del wc.products[39]  # deleted since the order was placed
    whole = wc.add_order(with_lines(41, [line(1, 33, quantity=2), line(2, 32, 3204), line(3, 32, 3201)]))
    partly = wc.add_order(with_lines(42, [line(4, 33), line(5, 39)]))
    run = everywhere("poll")
    assert run.code == 0, run.err
    assert set(everywhere.states("sophio").values()) == {"delivered"}

    def converted(value: str) -> Decimal:
        return Decimal(value) if factor is None else (Decimal(value) / factor).quantize(Decimal("0.0001"))

    sent = everywhere.sophio.orders[everywhere.order_key(whole["id"])].body
    assert [i["weight"] for i in sent["items"]] == [
        {"value": converted(w), "units": sophio_unit} for w in ("2", "4", "3")]
    assert sent["weight"] == {"value": converted("2") * 2 + converted("4") + converted("3"), "units": sophio_unit}
    sent = everywhere.sophio.orders[everywhere.order_key(partly["id"])].body
    assert sent["items"][0]["weight"] == {"value": converted("2"), "units": sophio_unit}
    assert "weight" not in sent["items"][1] and "weight" not in sent  # the gone product: no weight, still sent
    catalogue = [r for r in wc.requests if "/products" in r.path or "/settings/" in r.path]
    assert sorted(r.path.removeprefix("/wp-json/wc/v3/") for r in catalogue) == [
        "products", "products/32/variations", "settings/products/woocommerce_weight_unit"]
    [products] = [r for r in catalogue if r.path.endswith("/products")]
    assert sorted(products.query["include"][0].split(",")) == ["32", "33", "39"]
    assert set(products.query["per_page"]) == {"100"}  # (the package sends its OAuth query twice)
