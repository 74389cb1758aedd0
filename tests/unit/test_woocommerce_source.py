"""The WooCommerce source (connector/sources/woocommerce.py): wc/v3 JSON → Order, and its scans over HTTP
against the in-process WooCommerce sandbox."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.config import Secret, WooCommerceSettings
from connector.orders import MalformedOrder, Order, Rejected
from connector.sandbox import WooCommerceSandbox
from connector.sources.woocommerce import (
    LEGACY_LOOKBACK,
    WooCommerce,
    fulfilment,
    gmt,
    wc_time,
)

EXAMPLES = Path(__file__).parent.parent / "examples"
KEY, SECRET = "ck_source_unit", "cs_source_unit"


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def offline(**settings: Any) -> WooCommerce:
    """A source that is only asked to parse: no request is made."""
    return WooCommerce(WooCommerceSettings(url="https://shop.example/store", consumer_key=Secret(KEY),
                                           consumer_secret=Secret(SECRET), **settings))


# -- mapping -------------------------------------------------------------------------------------

def test_the_documented_processing_order_maps_field_by_field() -> None:
    order = offline().parse(example("docs_v3_order_727_processing_paid.json"))
    assert (order.source, order.store, order.id, order.number, order.key, order.status) == (
        "woocommerce", "shop.example/store", "727", "727", "wc_order_58d2d042d1d", "processing")
    assert order.created_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert order.modified_at == order.paid_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)
    assert order.completed_at is None and order.cancelled_at is None
    assert (order.currency, order.total, order.tax, order.shipping, order.discount) == (
        "USD", Decimal("29.35"), Decimal("1.35"), Decimal("10.00"), Decimal("0.00"))
    assert order.subtotal == Decimal("18.00")  # the lines' subtotals: 6.00 + 12.00
    assert order.customer.id is None  # customer_id 0 is a guest
    assert (order.customer.email, order.customer.first_name, order.customer.phone) == (
        "john.doe@example.com", "John", "(555) 555-5555")
    assert order.shipping_address is not None and order.shipping_address.city == "San Francisco"
    assert (order.payment_method, order.shipping_method, order.needs_shipping) == ("Direct Bank Transfer", "Flat Rate", True)
    single, variant = order.items
    assert (single.id, single.quantity, single.unit_price, single.total, single.product_id, single.variant_id) == (
        "315", 2, Decimal("3.00"), Decimal("6.00"), "93", None)
    assert variant.name == "Ship Your Idea \u2013 Color: Black, Size: M Test"  # &ndash; unescaped
    assert (variant.sku, variant.product_id, variant.variant_id) == ("Bar3", "22", "23")
    assert [(o.name, o.value) for o in variant.options] == [("Color", "black"), ("size", "M Test")]
    assert variant.url == "https://shop.example/store/?post_type=product&p=22"


def test_an_order_without_shipping_lines_or_address_needs_no_shipping() -> None:
    raw = example("docs_v3_order_727_processing_paid.json")
    raw["shipping_lines"], raw["shipping"] = [], []  # PHP's empty array for an empty object
    order = offline().parse(raw)
    assert order.needs_shipping is False and order.shipping_method == "" and order.shipping_address is None


@pytest.mark.parametrize(("edit", "reason"), [
    (lambda r: r.pop("date_modified_gmt"), "date_modified_gmt is missing"),
    (lambda r: r.update(date_created_gmt="22/03/2017"), "date_created_gmt is not an ISO 8601 time: '22/03/2017'"),
    (lambda r: r.update(status=7), "status is not text: 7"),
    (lambda r: r.update(currency="US Dollar"), "currency is not an ISO 4217 code: 'US Dollar'"),
    (lambda r: r.update(line_items="none"), "line_items is not an array: str"),
    (lambda r: r.update(billing=["x"]), "billing is not an object: list"),
])
def test_a_malformed_order_is_refused_with_the_reason(edit: Any, reason: str) -> None:
    raw = example("docs_v3_order_727_processing_paid.json")
    edit(raw)
    with pytest.raises(MalformedOrder, match="^" + reason.replace("(", r"\(").replace(")", r"\)") + "$"):
        offline().parse(raw)
    rejected = offline().read(copy.deepcopy(raw))
    assert isinstance(rejected, Rejected) and rejected.order_id == "727" and rejected.reason == reason


def test_not_polled_names_the_configured_statuses() -> None:
    source = offline(statuses=("processing",))
    pending = source.parse(example("docs_v3_order_728_pending_unpaid.json"))
    assert source.not_polled(pending) == "status 'pending' is not in WOOCOMMERCE_STATUSES (processing)"
    assert source.not_polled(source.parse(example("docs_v3_order_727_processing_paid.json"))) is None


def test_times_and_statuses() -> None:
    assert gmt("2017-03-22T19:28:02", "x") == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert gmt("2017-03-22T19:28:02+02:00", "x") == datetime(2017, 3, 22, 17, 28, 2, tzinfo=UTC)
    assert gmt("", "x") is None
    with pytest.raises(MalformedOrder, match="x is missing"):
        gmt(None, "x", required=True)
    assert wc_time(datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC) + timedelta()) == "2026-01-02T03:04:05"
    assert wc_time(datetime.fromisoformat("2026-01-02T05:04:05+02:00")) == "2026-01-02T03:04:05"
    assert [fulfilment(s) for s in ("processing", "Completed", "on-hold", "refunded", "my-custom")] == [
        "unfulfilled", "shipped", "on_hold", "refunded", "other"]


# -- scans against the sandbox store -------------------------------------------------------------

@pytest.fixture
def wc() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox(KEY, SECRET) as store:
        yield store
    assert store.errors == []


def source_for(store: WooCommerceSandbox, **settings: Any) -> WooCommerce:
    return WooCommerce(WooCommerceSettings(url=store.url, consumer_key=Secret(KEY), consumer_secret=Secret(SECRET),
                                           **settings))


def place(store: WooCommerceSandbox, status: str, created: datetime | None = None) -> str:
    raw = example("docs_v3_order_727_processing_paid.json")
    fresh = {k: v for k, v in raw.items() if not k.startswith("date_") and k not in ("id", "number", "_links")}
    if created is not None:
        fresh["date_created_gmt"] = fresh["date_modified_gmt"] = created.strftime("%Y-%m-%dT%H:%M:%S")
    return str(store.add_order(fresh | {"status": status})["id"])


def orders_of(pages: Iterator[Any]) -> list[Order | Rejected]:
    return [o for page in pages for o in page.orders]


def test_a_poll_window_lists_only_the_configured_statuses_modified_after_since(wc: WooCommerceSandbox) -> None:
    paid = [place(wc, "processing"), place(wc, "completed")]
    place(wc, "pending")
    source = source_for(wc)
    found = orders_of(source.modified(datetime.now(UTC) - timedelta(hours=1)))
    assert sorted(o.order_id if isinstance(o, Rejected) else o.id for o in found) == sorted(paid)
    [listing] = [r.query for r in wc.requests if r.path == "/wp-json/wc/v3/orders" and r.method == "GET"]
    assert "modified_after" in listing and set(listing["status"]) == {"processing,completed"}
    assert source.window_basis == "modified" and source.extra_lookback == 0.0
    assert source.clock is not None and source.clock.date is not None  # the store's Date header was read
    assert orders_of(source.modified(datetime.now(UTC) + timedelta(hours=1))) == []


def test_a_backfill_window_is_by_creation_time_and_ends_before_until(wc: WooCommerceSandbox) -> None:
    day = datetime(2026, 3, 1, tzinfo=UTC)
    inside = place(wc, "processing", day + timedelta(hours=1))
    place(wc, "processing", day + timedelta(days=2))  # at or after until
    place(wc, "processing", day - timedelta(days=1))  # before since
    found = orders_of(source_for(wc).created(day, day + timedelta(days=2)))
    assert [o.id for o in found if isinstance(o, Order)] == [inside]


def test_a_store_older_than_5_8_is_polled_by_creation_time_with_a_week_of_look_back() -> None:
    with WooCommerceSandbox(KEY, SECRET, wc_version="5.7.0") as store:
        place(store, "processing")
        source = source_for(store)
        assert source.window_basis == "created" and source.extra_lookback == LEGACY_LOOKBACK
        assert len(orders_of(source.modified(datetime.now(UTC) - timedelta(hours=1)))) == 1
        [listing] = [r.query for r in store.requests if r.path == "/wp-json/wc/v3/orders" and r.method == "GET"]
        assert "after" in listing and "modified_after" not in listing


def test_probe_says_how_many_orders_the_store_holds(wc: WooCommerceSandbox) -> None:
    place(wc, "processing")
    newest = place(wc, "completed")
    place(wc, "cancelled")
    assert source_for(wc).probe() == f"WooCommerce {wc.url.split('://')[1]}: 2 orders in processing,completed, newest #{newest}"
