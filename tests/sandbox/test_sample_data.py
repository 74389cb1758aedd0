"""`sample_woocommerce_orders` is deterministic, realistic, and has the edge cases a pipeline needs."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from connector.sandbox import sample_woocommerce_orders

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
PAID = {"processing", "completed"}


def parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def test_deterministic_for_a_seed() -> None:
    assert sample_woocommerce_orders(now=NOW) == sample_woocommerce_orders(now=NOW)
    assert sample_woocommerce_orders(now=NOW) != sample_woocommerce_orders(now=NOW, seed=8)


def test_statuses_and_payment_dates() -> None:
    orders = sample_woocommerce_orders(now=NOW)
    statuses = Counter(order["status"] for order in orders)

    assert len(orders) == 36
    assert statuses["processing"] + statuses["completed"] == 27
    assert {"pending", "on-hold", "cancelled", "failed"} <= set(statuses)
    for order in orders:
        assert (order["date_paid_gmt"] is not None) == (order["status"] in PAID)
        assert (order["date_completed_gmt"] is not None) == (order["status"] == "completed")


def test_dates_are_consistent_and_within_three_days() -> None:
    orders = sample_woocommerce_orders(now=NOW)

    assert [order["id"] for order in orders] == sorted(order["id"] for order in orders)
    for order in orders:
        created, modified = parse(order["date_created_gmt"]), parse(order["date_modified_gmt"])
        assert NOW - timedelta(days=3) <= created <= modified <= NOW
        assert parse(order["date_created"]) == created - timedelta(hours=3)  # site is UTC-3
        if order["date_paid_gmt"]:
            assert created <= parse(order["date_paid_gmt"]) <= modified


def test_money_adds_up() -> None:
    for order in sample_woocommerce_orders(60, now=NOW, seed=3):
        items = sum((Decimal(item["total"]) for item in order["line_items"]), Decimal("0"))
        subtotal = sum((Decimal(item["subtotal"]) for item in order["line_items"]), Decimal("0"))
        fees = sum((Decimal(fee["total"]) for fee in order["fee_lines"]), Decimal("0"))
        shipping = Decimal(order["shipping_total"])
        taxes = Decimal(order["total_tax"])
        assert Decimal(order["total"]) == items + shipping + fees + taxes
        assert Decimal(order["discount_total"]) == subtotal - items
        assert taxes == Decimal(order["cart_tax"]) + Decimal(order["shipping_tax"])
        assert all(len(value.split(".")[1]) == 2 for value in (order["total"], order["total_tax"]))
        for item in order["line_items"]:
            assert isinstance(item["quantity"], int) and isinstance(item["price"], float)


def test_variety() -> None:
    orders = sample_woocommerce_orders(now=NOW)
    countries = {order["billing"]["country"] for order in orders}
    currencies = Counter(order["currency"] for order in orders)
    items = [item for order in orders for item in order["line_items"]]

    assert countries == {"US", "CA", "GB", "DE", "AU", "BR"}
    assert {"USD", "EUR", "GBP", "CAD"} <= set(currencies) and currencies.most_common(1)[0][0] == "USD"
    assert any(order["billing"]["phone"] == "" for order in orders)
    assert any(fee["name"] == "Order Protection" for order in orders for fee in order["fee_lines"])
    assert any(order["coupon_lines"] for order in orders)
    assert {line["method_id"] for order in orders for line in order["shipping_lines"]} == {"flat_rate", "free_shipping"}
    assert all(1 <= len(order["line_items"]) <= 4 for order in orders)
    variation = next(item for item in items if item["variation_id"])
    assert variation["parent_name"] and variation["sku"] and variation["image"]["src"].startswith("https://")
    assert {"key", "value", "display_key", "display_value"} <= set(variation["meta_data"][0])
    emails = Counter(order["billing"]["email"].lower() for order in orders if order["billing"]["email"])
    assert emails.most_common(1)[0][1] >= 2  # repeat customers


def test_edge_cases_are_present() -> None:
    orders = sample_woocommerce_orders(now=NOW)
    paid = [order for order in orders if order["status"] in PAID]

    names_in_shipping = [o for o in paid if not o["billing"]["first_name"] and not o["billing"]["last_name"]]
    assert len(names_in_shipping) == 1
    assert names_in_shipping[0]["shipping"]["first_name"] and names_in_shipping[0]["shipping"]["last_name"]
    assert len([o for o in paid if o["billing"]["email"] == ""]) == 1
    assert any(o["customer_id"] == 0 for o in paid)
    assert any(o["refunds"] and o["refunds"][0]["total"].startswith("-") for o in paid)


def test_malformed_order_is_added() -> None:
    plain = sample_woocommerce_orders(now=NOW)
    with_malformed = sample_woocommerce_orders(now=NOW, include_malformed=True)

    assert with_malformed[:-1] == plain
    malformed = with_malformed[-1]
    assert malformed["total"] == "12,34O"
    assert malformed["status"] == "processing" and malformed["date_paid_gmt"]
    assert malformed["id"] > plain[-1]["id"]
