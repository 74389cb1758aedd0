"""Sophio mapping, held against shared/api-docs/sophio-createorder-api.txt."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connector import redaction, wire
from connector.config import Secret, SophioSettings, WooCommerceSettings
from connector.delivery import Outcome, classify_response
from connector.destinations.base import Skip
from connector.destinations.schema import PayloadError, check
from connector.destinations.sophio import REQUEST, Sophio, authentication, order_key
from connector.orders import Address, Customer, LineItem, Option, Order
from connector.sources.woocommerce import WooCommerce
from tests.conftest import EXAMPLES, example

SOPHIO = Sophio(SophioSettings(store_url="https://demo.sophio.com", api_key=Secret("sophio"),
                               api_secret=Secret("orders")))
WC = WooCommerce(WooCommerceSettings(url="https://shop.example", consumer_key=Secret("ck_x"),
                                     consumer_secret=Secret("cs_x")))

# The docs' sample request, numbers read as exact decimals.
DOCS_EXAMPLE: dict[str, Any] = wire.loads((EXAMPLES / "sophio_docs_request.json").read_text())
# Documented fields the platforms cannot supply; they are never sent.
NOT_SUPPLIED = {
    "shipByDate": "neither platform has a ship-by date",
    "carrierCode": "chosen by the fulfiller, not the shop", "serviceCode": "idem", "packageCode": "idem",
    "confirmation": "idem", "shipDate": "not shipped yet",
    "dimensions": "no package yet",
    "tagIds": "Sophio's own tags",
}
ITEM_NOT_SUPPLIED = {"warehouseLocation": "the fulfiller's bin"}
# Values that are ours by design (module docstring), not the sample's.
OURS = {
    "orderKey": "wc-322759-296594",  # <platform>-<store>-<order id>: unique per store and order
    "AdvancedOptions": {"customField1": "woocommerce", "customField2": "296594"},  # the platform and its order id
    # the lines' weights × quantities, 0.37 × 2 + 1.72 (the sample's 2.0700 is not derived from its lines)
    "weight": {"value": Decimal("2.46"), "units": "pounds"},
}
WHEN = datetime(2018, 7, 17, 12, 8, 6, tzinfo=UTC)


def docs_order() -> Order:
    """The canonical order that corresponds to the docs' sample request."""
    size = (Option(name="size", value=""),)
    items = (
        LineItem(id="222637", name="Engine Oil Pan Gasket fits 2007-2011 Toyota Tundra Land Cruiser", quantity=2,
                 unit_price=Decimal("7.46"), tax=Decimal("0"), sku="VIC-OS32372", product_id="222637",
                 weight=Decimal("0.37"), weight_unit="pounds", options=size),
        LineItem(id="222638", name="Power Steering Pressure Line Hose Assembly fits 2006-2008 Honda Civic", quantity=1,
                 unit_price=Decimal("47.46"), tax=Decimal("0"), sku="SNA-3401222", product_id="222638",
                 weight=Decimal("1.72"), weight_unit="lbs", options=size),
    )
    steve = {"first_name": "Steve", "last_name": "Smith", "city": "West Orange", "state": "NJ", "country": "US",
             "phone": "201-731-9692"}
    return Order(
        source="woocommerce", store="322759", id="296594", number="296594", status="processing",
        created_at=WHEN, modified_at=WHEN, paid_at=WHEN, currency="USD",
        total=Decimal("66.63"), subtotal=Decimal("62.38"), tax=Decimal("0"), shipping=Decimal("9.25"),
        customer=Customer(id="225846", email="buyer@gmail.com", username="buyer@gmail.com"),
        billing=Address(**steve, address_1="185 Exchange Blvd", postcode="07052", email="buyer@gmail.com"),
        shipping_address=Address(**steve, address_1="185 Airport Exchange Blvd", postcode="0752"),
        items=items, payment_method="Credit Card", shipping_method="Priority Mail", note="",
    )


def expected() -> dict[str, Any]:
    body = {name: value for name, value in DOCS_EXAMPLE.items() if name not in NOT_SUPPLIED} | OURS
    body["items"] = [{k: v for k, v in item.items() if k not in ITEM_NOT_SUPPLIED} for item in body["items"]]
    return body


def test_docs_example_field_by_field() -> None:
    payload = SOPHIO.build(docs_order())
    for name, value in expected().items():
        assert payload.get(name) == value, name
    assert payload == expected()
    assert list(payload) == list(expected())  # the docs' order
    assert list(payload["items"][0]) == list(expected()["items"][0])
    assert list(payload["shipTo"]) == list(DOCS_EXAMPLE["shipTo"])


def test_the_endpoint_carries_base64_key_secret_as_the_docs_say() -> None:
    url = urlsplit(SOPHIO.endpoint())
    assert (url.scheme, url.netloc, url.path) == ("https", "demo.sophio.com", "/createorder.wws")
    assert parse_qs(url.query) == {"action": ["CREATE"], "authentication": ["c29waGlvOm9yZGVycw=="]}  # the docs' own


def test_an_authentication_with_plus_is_escaped_and_redacted() -> None:
    key, secret = "ab>>?", "x"  # base64 "YWI+Pj86eA==" has a '+', which a query string would read as a space
    assert base64.b64encode(f"{key}:{secret}".encode()).decode() == "YWI+Pj86eA=="
    assert authentication(key, secret) == "YWI%2BPj86eA=="
    sophio = Sophio(SophioSettings(store_url="https://s.example", api_key=Secret(key), api_secret=Secret(secret)))
    assert parse_qs(urlsplit(sophio.endpoint()).query)["authentication"] == ["YWI+Pj86eA=="]
    shown = redaction.redact(f"POST {sophio.endpoint()} failed; sent YWI%2BPj86eA== and YWI+Pj86eA==")
    assert "YWI" not in shown and "authentication=***" in shown


def test_sophio_order_id_is_the_reference() -> None:
    answer = wire.loads((EXAMPLES / "sophio_docs_response.json").read_text())
    result = classify_response(httpx.Response(200, content=wire.encode(answer)), SOPHIO)
    assert (result.outcome, result.reference) == (Outcome.DELIVERED, "123456")


def test_a_2xx_without_an_order_id_is_not_a_created_order() -> None:
    result = classify_response(httpx.Response(200, text="<html>Store closed</html>"), SOPHIO)
    assert result.outcome is Outcome.PERMANENT and "Store closed" in (result.message or "")


def test_woocommerce_order_727() -> None:
    raw = copy.deepcopy(example("docs_v3_order_727_processing_paid.json"))
    raw["line_items"][0]["sku"] = "WOO-1"
    payload = SOPHIO.build(WC.parse(raw))
    assert payload["orderNumber"] == "727"
    assert payload["orderKey"] == "wc-shop.example-727"
    assert payload["orderDate"] == "2017-03-22T19:28:02"
    assert payload["orderStatus"] == "awaiting_shipment"
    assert "customerId" not in payload  # a guest (customer_id 0)
    assert payload["shipTo"] == {"name": "John Doe", "company": "", "street1": "969 Market", "street2": "",
                                 "street3": "", "city": "San Francisco", "state": "CA", "postalCode": "94103",
                                 "country": "US", "phone": "", "residential": True}
    assert payload["items"][1] == {
        "lineItemKey": "316", "sku": "Bar3", "name": "Ship Your Idea – Color: Black, Size: M Test",
        "imageUrl": "", "quantity": 1, "unitPrice": Decimal("12.00"), "taxAmount": Decimal("0.90"),
        "shippingAmount": Decimal("0"), "options": [{"name": "Color", "value": "black"},
                                                     {"name": "size", "value": "M Test"}],
        "productId": 22, "fulfillmentSku": "Bar3", "adjustment": False, "upc": "",
    }
    assert (payload["amountPaid"], payload["taxAmount"], payload["shippingAmount"]) == (
        Decimal("29.35"), Decimal("1.35"), Decimal("10.00"))
    assert payload["paymentMethod"] == "Direct Bank Transfer"
    assert payload["requestedShippingService"] == "Flat Rate"
    assert payload["AdvancedOptions"] == {"customField1": "woocommerce", "customField2": "727"}


def test_order_key_is_stable_and_unique_per_store_and_order() -> None:
    order = docs_order()
    assert order_key(order) == order_key(order.model_copy(update={"modified_at": datetime.now(UTC)}))
    assert order_key(order) != order_key(order.model_copy(update={"store": "other.example"}))
    assert order_key(order) != order_key(order.model_copy(update={"id": "296595"}))
    assert order_key(order.model_copy(update={"source": "bigcommerce", "store": "abc123"})) == "bc-abc123-296594"


@pytest.mark.parametrize("status", ["completed", "cancelled", "refunded"])
def test_only_statuses_still_to_ship_go_to_sophio(status: str) -> None:
    with pytest.raises(Skip, match=f"status '{status}' is not in SOPHIO_STATUSES"):
        SOPHIO.build(docs_order().model_copy(update={"status": status}))


def test_sophio_statuses_are_configurable() -> None:
    sophio = Sophio(SophioSettings(store_url="https://s.example", api_key=Secret("k123"), api_secret=Secret("s123"),
                                   statuses=("Completed",)))
    assert sophio.build(docs_order().model_copy(update={"status": "completed"}))["orderNumber"] == "296594"


@pytest.mark.parametrize("status", ["Awaiting Fulfillment", "awaiting-fulfillment", "AWAITING_FULFILLMENT"])
def test_statuses_compare_as_slugs(status: str) -> None:
    sophio = Sophio(SophioSettings(store_url="https://s.example", api_key=Secret("k123"), api_secret=Secret("s123"),
                                   statuses=("processing", "awaiting_fulfillment")))
    assert sophio.build(docs_order().model_copy(update={"status": status}))["orderStatus"] == "awaiting_shipment"


@pytest.mark.parametrize(("source", "status", "status_id", "sent"), [
    ("woocommerce", "processing", None, True),
    ("woocommerce", "on-hold", None, False),
    ("woocommerce", "awaiting-fulfillment", None, False),  # a custom WooCommerce status: no BigCommerce slug leaks in
    ("bigcommerce", "awaiting_fulfillment", 11, True),
    ("bigcommerce", "awaiting_shipment", 9, True),
    ("bigcommerce", "partially_shipped", 3, True),
    ("bigcommerce", "awaiting_pickup", 8, False),
    ("bigcommerce", "completed", 10, False),
])
def test_by_default_sophio_takes_the_orders_still_to_ship_by_their_fulfilment_state(
        source: str, status: str, status_id: int | None, sent: bool) -> None:
    order = docs_order().model_copy(update={"source": source, "status": status, "status_id": status_id})
    if sent:
        assert SOPHIO.build(order)["orderNumber"] == "296594"
    else:
        with pytest.raises(Skip, match=f"status '{status}' is not in SOPHIO_STATUSES .not set, so the orders still "):
            SOPHIO.build(order)


def test_an_order_with_nothing_to_ship_is_skipped() -> None:
    with pytest.raises(Skip, match="needs no shipping"):
        SOPHIO.build(docs_order().model_copy(update={"needs_shipping": False}))


def test_ship_to_falls_back_to_billing() -> None:
    payload = SOPHIO.build(docs_order().model_copy(update={"shipping_address": None}))
    assert payload["shipTo"] == payload["billTo"] and payload["shipTo"]["street1"] == "185 Exchange Blvd"


def test_an_item_without_sku_goes_out_with_what_it_has() -> None:
    order = docs_order()
    bare = order.items[1].model_copy(update={"sku": "", "product_id": None})  # a product without SKU, deleted
    payload = SOPHIO.build(order.model_copy(update={"items": (order.items[0], bare)}))
    first, second = payload["items"]
    assert first == expected()["items"][0]  # the other line is untouched
    assert "sku" not in second and "fulfillmentSku" not in second and "productId" not in second  # nothing invented
    assert (second["lineItemKey"], second["name"], second["quantity"], second["unitPrice"]) == (
        "222638", "Power Steering Pressure Line Hose Assembly fits 2006-2008 Honda Civic", 1, Decimal("47.46"))
    check(payload, REQUEST, "Sophio")


def test_a_woocommerce_line_whose_product_was_deleted_is_sent() -> None:
    raw = copy.deepcopy(example("docs_v3_order_727_processing_paid.json"))
    raw["line_items"][0].update(sku=None, product_id=0, variation_id=0)  # what the API shows for a deleted product
    item = SOPHIO.build(WC.parse(raw))["items"][0]
    assert item == {"lineItemKey": "315", "name": "Woo Single #1", "imageUrl": "", "quantity": 2,
                    "unitPrice": Decimal("3.00"), "taxAmount": Decimal("0.45"), "shippingAmount": Decimal("0"),
                    "options": [], "adjustment": False, "upc": ""}


def test_only_an_order_with_no_item_or_no_ship_to_address_is_skipped() -> None:
    with pytest.raises(Skip, match=r"Sophio requires items \(an array\)"):
        SOPHIO.build(docs_order().model_copy(update={"items": ()}))
    empty = Address()
    with pytest.raises(Skip, match=r"Sophio requires shipTo\.(name|street1)"):
        SOPHIO.build(docs_order().model_copy(update={"shipping_address": None, "billing": empty}))


def test_a_shipping_address_without_a_name_takes_the_billing_name() -> None:
    order = docs_order()
    assert order.shipping_address is not None and order.billing.name
    nameless = order.shipping_address.model_copy(update={"first_name": "", "last_name": ""})
    payload = SOPHIO.build(order.model_copy(update={"shipping_address": nameless}))
    assert payload["shipTo"]["name"] == order.billing.name
    assert payload["shipTo"]["street1"] == nameless.address_1


def test_empty_codes_are_left_out_not_sent_empty() -> None:
    order = docs_order()
    assert order.shipping_address is not None
    order = order.model_copy(update={"billing": order.billing.model_copy(update={"country": "", "state": " "}),
                                     "shipping_address": order.shipping_address.model_copy(update={"state": ""})})
    payload = SOPHIO.build(order)
    assert "country" not in payload["billTo"] and "state" not in payload["billTo"]
    assert payload["billTo"]["street2"] == ""  # not a code: the sample's empty strings stay
    assert "state" not in payload["shipTo"] and payload["shipTo"]["country"] == "US"
    assert None not in [*payload["billTo"].values(), *payload["shipTo"].values()]


def test_a_ship_to_without_country_is_skipped_naming_the_field() -> None:
    order = docs_order()
    assert order.shipping_address is not None
    order = order.model_copy(update={"shipping_address": order.shipping_address.model_copy(update={"country": ""})})
    with pytest.raises(Skip, match=r"Sophio requires shipTo\.country"):
        SOPHIO.build(order)


def test_an_email_that_is_not_an_address_is_left_out_and_the_order_still_goes() -> None:
    order = docs_order()
    bad = "Mia Lund@example.se"
    order = order.model_copy(update={"customer": order.customer.model_copy(update={"email": bad, "username": bad}),
                                     "billing": order.billing.model_copy(update={"email": bad})})
    payload = SOPHIO.build(order)
    assert "customerEmail" not in payload and "customerUsername" not in payload
    assert payload["orderNumber"] == "296594"
    named = order.model_copy(update={"customer": order.customer.model_copy(update={"username": "mia.lund"})})
    assert SOPHIO.build(named)["customerUsername"] == "mia.lund"  # a real username stays


def test_an_address_without_street_is_skipped_naming_the_field() -> None:
    order = docs_order()
    assert order.shipping_address is not None
    order = order.model_copy(update={"shipping_address": order.shipping_address.model_copy(update={"address_1": ""})})
    with pytest.raises(Skip, match=r"Sophio requires shipTo\.street1"):
        SOPHIO.build(order)


@pytest.mark.parametrize(("unit", "weight", "expected"), [
    ("lbs", "0.37", {"value": Decimal("0.37"), "units": "pounds"}),
    ("oz", "19.20", {"value": Decimal("19.20"), "units": "ounces"}),
    ("KGS", "1", {"value": Decimal("2.2046"), "units": "pounds"}),
    ("grams", "100", {"value": Decimal("3.5274"), "units": "ounces"}),
    ("tonnes", "1", None),
    ("", "1", None),
])
def test_weight_units_are_the_documents(unit: str, weight: str, expected: dict[str, Any] | None) -> None:
    order = docs_order()
    item = order.items[0].model_copy(update={"weight": Decimal(weight), "weight_unit": unit})
    payload = SOPHIO.build(order.model_copy(update={"items": (item,)}))
    assert payload["items"][0].get("weight") == expected


@pytest.mark.parametrize(("change", "error"), [
    ({"amountPaid": 66.63}, "amountPaid must be a number, not float"),  # money never through float
    ({"customerId": "225846"}, "customerId must be an integer"),
    ({"items": [{"sku": "A", "name": "B", "quantity": "2"}]}, r"items\[0\]\.quantity must be an integer"),
    ({"shipTo": {"name": "A", "street1": "B", "city": "C", "country": "US", "residential": "yes"}},
     r"shipTo\.residential must be true or false"),
    ({"advancedOptions": {}}, "advancedOptions is not a field of its document"),
])
def test_the_documents_types_are_checked_before_sending(change: dict[str, Any], error: str) -> None:
    payload = SOPHIO.build(docs_order()) | change
    with pytest.raises(PayloadError, match=error):
        check(payload, REQUEST, "Sophio")


@pytest.mark.parametrize(("units", "expected"), [
    (("pounds", "lbs"), {"value": Decimal("2.46"), "units": "pounds"}),
    (("kg", "kg"), {"value": Decimal("5.4234"), "units": "pounds"}),  # 0.8157 × 2 + 3.7920, each line rounded
    (("pounds", "oz"), {"value": Decimal("13.56"), "units": "ounces"}),  # 0.37 lb = 5.92 oz, × 2, + 1.72 oz
    (("pounds", ""), None),  # a line without a usable weight: no order weight rather than too light a one
])
def test_the_order_weight_sums_the_lines(units: tuple[str, str], expected: dict[str, Any] | None) -> None:
    order = docs_order()
    items = tuple(item.model_copy(update={"weight_unit": unit}) for item, unit in zip(order.items, units, strict=True))
    assert SOPHIO.build(order.model_copy(update={"items": items})).get("weight") == expected


def test_weight_units_outside_the_document_are_refused() -> None:
    payload = SOPHIO.build(docs_order())
    payload["items"][0]["weight"] = {"value": Decimal("1"), "units": "grams"}
    with pytest.raises(Skip, match="does not accept items\\[0\\].weight.units 'grams'"):
        check(payload, REQUEST, "Sophio")


def test_a_bigcommerce_custom_product_without_sku_is_sent() -> None:
    from tests.unit.test_bigcommerce_mapping import BC, assembled

    variants = example("spec_order_product_line_item_variants.json")
    order = assembled()
    order["products"] = [variants["Product with Variants"], variants["Custom Product"] | {"sku": None}]
    shirt, custom = SOPHIO.build(BC.parse(order))["items"]
    assert shirt["sku"] == shirt["fulfillmentSku"] and shirt["productId"] == 201
    assert (custom["lineItemKey"], custom["name"], custom["quantity"]) == ("238", "Journal", 1)
    assert not {"sku", "fulfillmentSku", "productId"} & set(custom)


class CountingResponse(httpx.Response):
    parsed = 0

    def json(self, **kwargs: Any) -> Any:
        type(self).parsed += 1
        return super().json(**kwargs)


@pytest.mark.parametrize(("status", "body", "outcome"), [
    (200, {"orderId": 0}, Outcome.DELIVERED), (200, {"orderId": ""}, Outcome.PERMANENT), (500, {"error": "x"}, Outcome.TRANSIENT),
])
def test_an_answer_is_parsed_once(status: int, body: dict[str, Any], outcome: Outcome) -> None:
    CountingResponse.parsed = 0
    result = classify_response(CountingResponse(status, json=body), SOPHIO)
    assert (result.outcome, CountingResponse.parsed) == (outcome, 1)
