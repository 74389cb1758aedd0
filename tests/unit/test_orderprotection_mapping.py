"""OrderProtection mapping, held against shared/api-docs/orderprotection-orders-api.txt."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from connector import wire
from connector.config import OrderProtectionSettings, Secret, WooCommerceSettings
from connector.destinations.base import Skip
from connector.destinations.orderprotection import CURRENCIES, REQUEST, OrderProtection
from connector.destinations.schema import PayloadError, check
from connector.orders import Address, Customer, Fee, LineItem, Option, Order
from connector.sources.woocommerce import WooCommerce
from tests.conftest import EXAMPLES, example

OP = OrderProtection(OrderProtectionSettings(api_token=Secret("op_test_unit")))
WC = WooCommerce(WooCommerceSettings(url="https://shop.example", consumer_key=Secret("ck_x"),
                                     consumer_secret=Secret("cs_x")))

# The docs' own request body (verbatim from the curl example), numbers read as exact decimals.
DOCS_EXAMPLE: dict[str, Any] = wire.loads((EXAMPLES / "orderprotection_docs_request.json").read_text())
# Documented fields neither platform can supply; they are never sent.
NOT_SUPPLIED = {
    "originalSourceOrderNumber": "a replacement order's original: the platforms do not link replacements",
    "premiumCost": "OrderProtection's own gross cost of revenue",
    "premiumDiscount": "OrderProtection's own pricing",
    "riskLevel": "neither order API carries a fraud level",
}
WHEN = datetime(2000, 5, 15, 21, 0, tzinfo=UTC)


def docs_order() -> Order:
    """The canonical order that corresponds to the docs' example (source "api" → platformId "api")."""
    items = (
        LineItem(id="387179", name="Handcrafted Wooden Table", quantity=4, unit_price=Decimal("45.43"),
                 sku="978-0-10-081434-9", product_id="477353", variant_id="17742", url="https://bogus-clarity.name/",
                 image_url="https://bogus-clarity.name/product/image.jpg",
                 options=(Option(name="Variant", value="White Oak"), Option(name="Size", value="10'x10'"))),
        LineItem(id="387180", name="Another prod", quantity=4, unit_price=Decimal("45.43"), sku="5555",
                 product_id="477353", variant_id="17742", url="https://test.site/",
                 options=(Option(name="Variant", value="White Oak"), Option(name="Size", value="10'x10'"))),
    )
    return Order(
        source="api", store="example", id="#517AB", number="#634C", status="processing",
        created_at=WHEN, modified_at=WHEN, cancelled_at=WHEN, paid_at=WHEN, currency="USD",
        # the customer paid the goods' 15.4 plus the 1.5 premium, collected as an "Order Protection" fee
        total=Decimal("16.9"), subtotal=Decimal("11.3"), tax=Decimal("0.55"), shipping=Decimal("3.5"),
        shipping_tax=Decimal("23.55"), discount=Decimal("1.2"),
        fees=(Fee(name="Order Protection", total=Decimal("1.5")),),
        customer=Customer(email="john@doe.com", first_name="John"),
        billing=Address(first_name="John", email="john@doe.com", phone="+1-555-796-3644", country="US"),
        shipping_address=Address(first_name="Milford", last_name="Mayert", address_1="991 Nicolas Landing",
                                 address_2="Apt. 796", city="Rippinfurt", state="AZ", postcode="08731", country="PR"),
        items=items, tags=("test", "this", "out"),
    )


def test_docs_example_field_by_field() -> None:
    payload = OP.build(docs_order())
    expected = {name: value for name, value in DOCS_EXAMPLE.items() if name not in NOT_SUPPLIED}
    for name, value in expected.items():
        assert payload.get(name) == value, name
    assert payload == expected
    assert list(payload) == list(expected)  # the docs' order
    assert list(payload["orderItems"][0]) == list(DOCS_EXAMPLE["orderItems"][0])
    assert list(payload["address"]) == list(DOCS_EXAMPLE["address"])


def test_money_is_an_exact_json_number() -> None:
    order = docs_order().model_copy(update={"total": Decimal("100000000000000000.01"), "fees": ()})
    body = wire.dumps(OP.build(order))
    assert '"total": 100000000000000000.01' in body  # a float would print 1e+17
    assert '"subtotal": 11.3' in body


def test_the_currency_list_is_the_documents() -> None:
    text = (EXAMPLES / "orderprotection-orders-api.txt").read_text()
    listed = text.split("currency\nenum<string>")[1].split("Example:")[0]
    assert CURRENCIES == set(re.findall(r"^([A-Z]{3}),?$", listed, re.M))
    assert len(CURRENCIES) == 302


def test_a_currency_outside_the_list_is_skipped_with_the_reason() -> None:
    with pytest.raises(Skip, match="does not accept currency SLE"):
        OP.build(docs_order().model_copy(update={"currency": "SLE"}))


def test_woocommerce_order_727() -> None:
    payload = OP.build(WC.parse(example("docs_v3_order_727_processing_paid.json")))
    assert payload["sourceOrderId"] == "727" and payload["sourceOrderNumber"] == "727"
    assert payload["platformId"] == "woocommerce"
    assert payload["sourceCreatedAt"] == "2017-03-22T19:28:02.000Z"
    assert (payload["total"], payload["subtotal"], payload["tax"]) == (
        Decimal("29.35"), Decimal("18.00"), Decimal("1.35"))
    assert (payload["shippingCost"], payload["discountTotal"]) == (Decimal("10.00"), Decimal("0.00"))
    assert "premiumPaid" not in payload  # no protection fee on this order
    assert payload["customerPhone"] == "+1-555-555-5555"
    assert payload["orderItems"][1] == {
        "productName": "Ship Your Idea – Color: Black, Size: M Test",
        "productUrl": "https://shop.example/?post_type=product&p=22",
        "sku": "Bar3", "quantity": 1, "price": Decimal("12.00"),
        "sourceItemId": "316", "sourceProductId": "22", "sourceVariantId": "23",
        "description": "Color: black. size: M Test",
    }
    assert payload["address"] == {"firstName": "John", "lastName": "Doe", "address1": "969 Market",
                                  "city": "San Francisco", "state": "CA", "zip": "94103", "country": "US"}


def wc_with_premium(fee_total: str, fee_tax: str = "0.00", name: str = "Order Protection") -> dict[str, Any]:
    raw = copy.deepcopy(example("docs_v3_order_727_processing_paid.json"))
    total = Decimal(raw["total"]) + Decimal(fee_total) + Decimal(fee_tax)
    total_tax = Decimal(raw["total_tax"]) + Decimal(fee_tax)
    raw.update(total=str(total), total_tax=str(total_tax))
    raw["fee_lines"] = [{"id": 400, "name": name, "tax_class": "",
                         "tax_status": "taxable" if Decimal(fee_tax) else "none",
                         "total": fee_total, "total_tax": fee_tax, "taxes": [], "meta_data": []}]
    return raw


def test_the_premium_fee_is_premium_paid_and_left_out_of_total_and_tax() -> None:
    payload = OP.build(WC.parse(wc_with_premium("2.50", "0.20")))
    assert payload["premiumPaid"] == Decimal("2.70")  # the fee with its tax: what the customer paid for protection
    assert payload["total"] == Decimal("29.35")  # the order's own total, as if the premium had not been bought
    assert payload["tax"] == Decimal("1.35")  # the premium's tax is not the goods' tax
    assert payload["subtotal"] == Decimal("18.00")
    assert payload["total"] + payload["premiumPaid"] == Decimal("32.05")  # the order total on WooCommerce


def test_the_premium_fee_names_are_configurable_and_case_insensitive() -> None:
    raw = wc_with_premium("1.95", name="  SHIPPING insurance ")
    assert "premiumPaid" not in OP.build(WC.parse(raw))
    assert OP.build(WC.parse(raw))["total"] == Decimal("31.30")  # another fee stays in the total
    custom = OrderProtection(OrderProtectionSettings(api_token=Secret("t"), premium_fee_names=("shipping insurance",)))
    payload = custom.build(WC.parse(raw))
    assert (payload["premiumPaid"], payload["total"]) == (Decimal("1.95"), Decimal("29.35"))


def test_billing_address_when_there_is_no_shipping_address() -> None:
    raw = copy.deepcopy(example("docs_v3_order_727_processing_paid.json"))
    raw["shipping"] = {key: "" for key in raw["shipping"]}
    raw["billing"]["address_1"] = "1 Billing Way"
    assert OP.build(WC.parse(raw))["address"]["address1"] == "1 Billing Way"


def test_an_order_without_any_address_is_skipped_naming_the_field() -> None:
    order = docs_order().model_copy(update={"shipping_address": None, "billing": Address(email="john@doe.com")})
    with pytest.raises(Skip, match=r"requires address \(an object\)"):
        OP.build(order)


def test_an_order_without_items_is_skipped_naming_the_field() -> None:
    with pytest.raises(Skip, match="requires orderItems"):
        OP.build(docs_order().model_copy(update={"items": ()}))


def test_platform_id_is_api_for_any_other_source() -> None:
    assert OP.build(docs_order())["platformId"] == "api"
    assert OP.build(docs_order().model_copy(update={"source": "bigcommerce"}))["platformId"] == "bigcommerce"


def test_cancelled_and_optional_fields_are_left_out_when_the_order_has_none() -> None:
    order = docs_order().model_copy(update={"cancelled_at": None, "tags": (), "fees": (),
                                            "billing": Address(first_name="John", email="john@doe.com")})
    payload = OP.build(order)
    assert {"sourceCancelledAt", "tags", "premiumPaid", "customerPhone"}.isdisjoint(payload)


@pytest.mark.parametrize(("change", "error"), [
    ({"total": 15.4}, "total must be a number, not float"),  # money never through float
    ({"total": "15.40"}, "total must be a number, not str"),
    ({"premiumPaid": True}, "premiumPaid must be a number, not bool"),
    ({"sourceOrderId": 517}, "sourceOrderId must be a string"),
    ({"address": "991 Nicolas Landing"}, "address must be an object"),
    ({"orderItems": [{"productName": 1}]}, r"orderItems\[0\].productName must be a string"),
    ({"customerPhone ": "+1"}, "customerPhone  is not a field of its document"),
])
def test_the_documents_types_are_checked_before_sending(change: dict[str, Any], error: str) -> None:
    payload = OP.build(docs_order()) | change
    with pytest.raises(PayloadError, match=error):
        check(payload, REQUEST, "OrderProtection")


@pytest.mark.parametrize("missing", ["sourceOrderId", "sourceCreatedAt", "platformId", "currency", "total",
                                     "subtotal", "orderItems", "address"])
def test_every_documented_required_field_is_checked(missing: str) -> None:
    payload = OP.build(docs_order())
    del payload[missing]
    with pytest.raises(Skip, match=f"requires {missing}"):
        check(payload, REQUEST, "OrderProtection")


def test_an_email_that_is_not_an_address_is_left_out_and_the_order_still_goes() -> None:
    order = docs_order()
    bad = "Mia Lund@example.se"
    order = order.model_copy(update={"customer": order.customer.model_copy(update={"email": bad}),
                                     "billing": order.billing.model_copy(update={"email": bad})})
    payload = OP.build(order)
    assert "customerEmail" not in payload and payload["sourceOrderId"] == docs_order().id
