"""BigCommerce order → `Order`, held against the official spec's examples (tests/examples/spec_*)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from connector.config import BigCommerceSettings, Secret, SonarIDSettings
from connector.destinations.sonarid import SonarID
from connector.orders import MalformedOrder
from connector.sources.bigcommerce import BigCommerce
from connector.sources.bigcommerce_orders import rfc2822, rfc2822_query
from tests.conftest import example

BC = BigCommerce(BigCommerceSettings(store_hash="abc123", access_token=Secret("unit-token"), client_id=None))


def assembled(name: str = "spec_order_247_awaiting_fulfillment_multi_items.json") -> dict[str, Any]:
    """A spec order with the spec's sub-resource examples inlined, as the source assembles it."""
    order = copy.deepcopy(example(name))
    order["products"] = example("spec_order_149_products.json")
    order["shipping_addresses"] = example("spec_order_229_shipping_addresses.json")
    order["coupons"] = example("spec_order_120_coupons.json")
    return order


def test_spec_order_247_field_by_field() -> None:
    order = BC.parse(assembled())
    assert (order.source, order.store, order.id, order.number) == ("bigcommerce", "abc123", "247", "247")
    assert (order.status, order.status_id) == ("awaiting_fulfillment", 11)
    assert order.created_at == order.modified_at == datetime(2019, 6, 20, 16, 7, 8, tzinfo=UTC)
    assert order.completed_at is None and order.cancelled_at is None  # date_shipped is ""
    assert order.currency == "USD"
    # money exactly as the strings say, whatever their precision ("924.47", "8", "0")
    assert order.total == Decimal("1008.74") and str(order.total) == "1008.74"
    assert order.subtotal == Decimal("924.47")
    assert order.tax == Decimal("76.88")
    assert (order.shipping, order.shipping_tax) == (Decimal("7.39"), Decimal("0.61"))
    assert order.discount == Decimal("0")
    assert order.customer.id == "11"
    assert order.customer.email == "janedoe@email.com"
    assert order.billing.address_1 == "555 East Street" and order.billing.postcode == "78108"
    assert order.billing.country == "US"  # country_iso2, not "United States"
    assert order.billing.phone == "1234567890"
    assert order.payment_method == "Test Payment Gateway"
    assert order.note == "Custom Journal Added"
    assert order.needs_shipping is True


def test_spec_products_149_every_line_with_options_weight_and_upc() -> None:
    items = BC.parse(assembled()).items
    assert [i.id for i in items] == ["65", "66"]
    towel, bundled = items
    assert towel.name == "Fog Linen Chambray Towel - Beige Stripe"
    assert (towel.sku, towel.upc, towel.product_id, towel.variant_id) == ("S-ORAN", "1234567891112", "77", None)
    assert towel.quantity == 1
    assert (towel.unit_price, towel.total, towel.tax) == (Decimal("55.9900"), Decimal("55.9900"), Decimal("9.2400"))
    assert [(o.name, o.value) for o in towel.options] == [
        ("Size", "S"), ("Color", "Orange"), ("Add Letters", "Text Field"), ("Is this a gift?", "Yes"),
        ("PickList", "Able Brewing System")]
    assert towel.weight == Decimal("1.0000")
    assert bundled.name == "Able Brewing System" and bundled.unit_price == Decimal("0")  # the bundle's child line


def test_variant_and_custom_product_ids() -> None:
    variants = example("spec_order_product_line_item_variants.json")
    order = assembled()
    order["products"] = [variants["Product with Variants"], variants["Custom Product"]]
    shirt, custom = BC.parse(order).items
    assert (shirt.product_id, shirt.variant_id, shirt.quantity) == ("201", "477", 4)
    assert (shirt.unit_price, shirt.total) == (Decimal("217.0900"), Decimal("868.3600"))
    assert (custom.product_id, custom.variant_id) == (None, None)  # 0 is a custom product, not a catalogue id


def test_spec_shipping_addresses_229_first_address_and_method() -> None:
    order = BC.parse(assembled())
    assert order.shipping_address is not None
    assert order.shipping_address.name == "Trishy Smith"
    assert order.shipping_address.company == "Acme Pty Ltd"
    assert (order.shipping_address.address_1, order.shipping_address.city) == ("666 Sussex St", "San Antonio")
    assert order.shipping_address.country == "US"
    assert order.shipping_method == "None"  # BigCommerce's own word for "no method chosen"


def test_spec_coupons_120_discount_given_as_a_json_number() -> None:
    [coupon] = BC.parse(assembled()).coupons
    assert coupon.code == "S2549JM0Y" and coupon.discount == Decimal("5")


def test_spec_order_218_fees_inlined_by_include_fees() -> None:
    order = BC.parse(assembled("spec_order_218_awaiting_payment_with_fees.json"))
    assert (order.status, order.status_id) == ("awaiting_payment", 7)
    assert [(f.name, f.total, f.tax) for f in order.fees] == [
        ("A Fee", Decimal("12.3000"), Decimal("0.0000")),  # the spec's own `cost_exc_tax` spelling
        ("B Fee", Decimal("4.0000"), Decimal("8.0000")),
    ]
    assert order.discount == Decimal("5.0000")
    assert order.modified_at == datetime(2019, 3, 11, 15, 17, 25, tzinfo=UTC)


def test_status_is_keyed_on_the_id_not_the_renameable_text() -> None:
    order = assembled()
    order["status"] = order["custom_status"] = "Ready to pack (renamed)"
    assert BC.parse(order).status == "awaiting_fulfillment"
    order["status_id"] = 0
    assert BC.parse(order).status == "incomplete"


def test_guest_has_no_customer_id() -> None:
    order = assembled()
    order["customer_id"] = 0
    parsed = BC.parse(order)
    assert parsed.customer.id is None and parsed.customer.email == "janedoe@email.com"


@pytest.mark.parametrize(("display", "transactional", "expected"), [
    ("EUR", "USD", "USD"),  # the amounts are in the transactional currency
    (None, "GBP", "GBP"),
    (None, None, "CAD"),  # BIGCOMMERCE_CURRENCY
    ("USD", "", "USD"),
])
def test_currency_falls_back_from_null(display: str | None, transactional: str | None, expected: str) -> None:
    source = BigCommerce(BigCommerceSettings(store_hash="abc123", access_token=Secret("t"), client_id=None,
                                             currency="CAD"))
    order = assembled()
    order["currency_code"], order["default_currency_code"] = display, transactional
    assert source.parse(order).currency == expected


def test_shipped_and_cancelled_times() -> None:
    order = assembled()
    order.update(status_id=2, date_shipped="Fri, 21 Jun 2019 09:00:00 +0000", date_modified="Fri, 21 Jun 2019 09:00:05 +0000")
    assert BC.parse(order).completed_at == datetime(2019, 6, 21, 9, 0, tzinfo=UTC)
    order.update(status_id=5)
    assert BC.parse(order).cancelled_at == datetime(2019, 6, 21, 9, 0, 5, tzinfo=UTC)


def test_handling_and_wrapping_are_fees() -> None:
    order = assembled()
    order.update(handling_cost_ex_tax="3.5000", handling_cost_tax="0.2900", wrapping_cost_ex_tax="2")
    assert [(f.name, f.total) for f in BC.parse(order).fees] == [("Handling", Decimal("3.5000")),
                                                                   ("Gift wrapping", Decimal("2"))]


def test_a_digital_order_needs_no_shipping() -> None:
    order = assembled()
    order.update(order_is_digital=True, shipping_addresses=[])
    parsed = BC.parse(order)
    assert parsed.needs_shipping is False and parsed.shipping_address is None and parsed.shipping_method == ""


def test_dates_are_parsed_never_compared_as_text() -> None:
    # "Mon, …" sorts before "Tue, …" as text although it is a week later
    assert rfc2822("Mon, 11 Mar 2019 15:17:25 +0000", "d") > rfc2822("Tue, 05 Mar 2019 21:40:11 +0000", "d")  # type: ignore[operator]
    assert rfc2822("Thu, 20 Apr 2017 11:32:00 -0400", "d") == datetime(2017, 4, 20, 15, 32, tzinfo=UTC)
    assert rfc2822_query(datetime(2017, 4, 20, 15, 32, 0, 999, tzinfo=UTC)) == "Thu, 20 Apr 2017 15:32:00 +0000"


@pytest.mark.parametrize(("change", "reason"), [
    ({"date_modified": "yesterday"}, "date_modified is not an RFC 2822 date"),
    ({"date_created": ""}, "date_created is missing"),
    ({"total_inc_tax": "12,34O"}, "total_inc_tax is not a number"),
    ({"status_id": "paid"}, "status_id is not a status id"),
    ({"id": None}, "order has no id"),
    ({"currency_code": "US Dollar", "default_currency_code": None}, "currency_code is not an ISO 4217 code"),
    ({"products": {"url": "https://api.bigcommerce.com/stores/x/v2/orders/247/products",
                   "resource": "/orders/247/products"}}, "products is a link (/orders/247/products), not the data"),
])
def test_malformed_orders_say_why(change: dict[str, Any], reason: str) -> None:
    order = assembled() | change
    with pytest.raises(MalformedOrder, match=reason.replace("(", r"\(").replace(")", r"\)")):
        BC.parse(order)
    rejected = BC.read(order)
    assert reason.split(" (")[0] in rejected.reason  # type: ignore[union-attr]


def test_a_line_with_a_broken_quantity_is_malformed() -> None:
    order = assembled()
    order["products"][0]["quantity"] = "1"
    with pytest.raises(MalformedOrder, match=r"products\[0\].quantity"):
        BC.parse(order)


def test_sonarid_order_id_is_bc_prefixed() -> None:
    payload = SonarID(SonarIDSettings(api_key=Secret("sk_test_unit"))).build(BC.parse(assembled()))
    assert payload["order"] == {"id": "bc_247", "number": "247", "total": "1008.74", "currency": "USD"}
    assert payload["address"] == {"city": "Austin", "state": "Texas", "zipcode": "78108", "country": "US"}
