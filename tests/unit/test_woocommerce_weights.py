"""WooCommerce line weights from the catalogue: batched per page, cached, never holding an order back."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connector.config import Secret, WooCommerceSettings
from connector.orders import Order
from connector.sandbox import WooCommerceSandbox
from connector.sources.base import SourceAuthError, SourceError, TransientSourceError, retrying
from connector.sources.woocommerce import WooCommerce
from connector.sources.woocommerce_weights import ProductWeights, parse_weight

KEY, SECRET = "ck_weights", "cs_weights"


def order(order_id: int, *lines: tuple[int, int]) -> dict[str, Any]:
    return {"id": order_id, "status": "processing",
            "line_items": [{"product_id": p, "variation_id": v, "quantity": 1} for p, v in lines]}


class FakeStore:
    """`get` as the source's `_get`: the answers by endpoint, every call recorded."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, endpoint: str, params: dict[str, Any]) -> tuple[Any, None]:
        self.calls.append((endpoint, params))
        answer = self.answers.get(endpoint, [])
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, list):
            wanted = {int(i) for i in str(params.get("include", "")).split(",") if i}
            answer = [row for row in answer if row["id"] in wanted]
        return answer, None


UNIT = {"settings/products/woocommerce_weight_unit": {"id": "woocommerce_weight_unit", "value": "kg"}}


@pytest.mark.parametrize(("text", "value"), [("0.5", Decimal("0.5")), ("", None), (None, None), ("abc", None),
                                             ("-1", None), (" 2 ", Decimal("2")), (1.25, Decimal("1.25"))])
def test_a_catalogue_weight_is_a_string_that_may_be_empty(text: Any, value: Decimal | None) -> None:
    assert parse_weight(text) == value


def test_one_products_read_per_page_and_each_product_is_read_once() -> None:
    store = FakeStore({"products": [{"id": 1, "weight": "1.5"}, {"id": 2, "weight": ""}, {"id": 3, "weight": "2"}],
                       **UNIT})
    weights = ProductWeights(store)
    weights.load([order(10, (1, 0), (2, 0)), order(11, (1, 0))])
    weights.load([order(12, (1, 0), (3, 0)), order(13, (4, 0))])  # 1 is known; 4 is gone
    weights.load([order(14, (4, 0), (3, 0))])  # nothing new: no request
    assert [(e, p.get("include")) for e, p in store.calls] == [
        ("products", "1,2"), ("settings/products/woocommerce_weight_unit", None), ("products", "3,4")]
    assert all(p["per_page"] == 100 for e, p in store.calls if e == "products")
    assert (weights.weight(1, 0), weights.weight(2, 0), weights.weight(3, 0), weights.weight(4, 0)) == (
        Decimal("1.5"), None, Decimal("2"), None)
    assert weights.unit == "kilograms" and weights.requests == 3


def test_more_than_a_pages_worth_of_products_is_read_in_batches_of_100() -> None:
    store = FakeStore({"products": [{"id": i, "weight": "1"} for i in range(1, 251)], **UNIT})
    weights = ProductWeights(store)
    weights.load([order(i, (i, 0)) for i in range(1, 251)])
    batches = [len(p["include"].split(",")) for e, p in store.calls if e == "products"]
    assert batches == [100, 100, 50]
    assert weights.weight(250, 0) == Decimal("1")


def test_a_variation_weighs_its_own_weight_else_its_parents_and_a_gone_one_nothing() -> None:
    store = FakeStore({"products": [{"id": 5, "weight": "3"}],
                       "products/5/variations": [{"id": 501, "weight": "4"}, {"id": 502, "weight": ""}], **UNIT})
    weights = ProductWeights(store)
    weights.load([order(1, (5, 501), (5, 502), (5, 503))])
    assert [e for e, _ in store.calls] == ["products", "products/5/variations", "settings/products/woocommerce_weight_unit"]
    assert dict(store.calls)["products/5/variations"]["include"] == "501,502,503"
    assert (weights.weight(5, 501), weights.weight(5, 502), weights.weight(5, 503)) == (Decimal("4"), Decimal("3"), None)
    weights.load([order(2, (5, 503))])  # a gone variation is not asked for again
    assert len(store.calls) == 3


def test_a_transient_failure_leaves_the_page_without_weights_and_the_next_page_tries_again(
        caplog: pytest.LogCaptureFixture) -> None:
    store = FakeStore({"products": TransientSourceError("WooCommerce products answered 503"), **UNIT})
    weights = ProductWeights(store)
    with caplog.at_level(logging.WARNING, "connector.sources.woocommerce"):
        weights.load([order(1, (1, 0))])
    assert weights.weight(1, 0) is None and "products answered 503" in caplog.text
    store.answers["products"] = [{"id": 1, "weight": "2"}]
    weights.load([order(2, (1, 0))])
    assert weights.weight(1, 0) == Decimal("2")


def test_a_refused_catalogue_turns_weights_off_and_a_refused_unit_leaves_weights_without_one() -> None:
    refused = FakeStore({"products": SourceAuthError("WooCommerce refused the credentials (403)")})
    weights = ProductWeights(refused)
    weights.load([order(1, (1, 0))])
    weights.load([order(2, (2, 0))])
    assert len(refused.calls) == 1 and weights.off and weights.weight(1, 0) is None
    store = FakeStore({"products": [{"id": 1, "weight": "2"}],
                       "settings/products/woocommerce_weight_unit": SourceError("403 cannot view")})
    weights = ProductWeights(store)
    weights.load([order(1, (1, 0))])
    assert weights.weight(1, 0) == Decimal("2") and weights.unit == ""


# -- through the source, over HTTP against the sandbox store --------------------------------------

@pytest.fixture
def wc() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox(KEY, SECRET, weight_unit="lbs") as store:
        yield store
    assert store.errors == []


def paid_order(store: WooCommerceSandbox, *lines: tuple[int, int]) -> dict[str, Any]:
    items = [{"id": 100 + n, "name": f"Item {n}", "product_id": p, "variation_id": v, "quantity": 1, "sku": f"S{n}",
              "subtotal": "1.00", "total": "1.00", "total_tax": "0.00", "meta_data": []} for n, (p, v) in enumerate(lines)]
    return store.add_order({"status": "processing", "currency": "USD", "total": "1.00", "total_tax": "0.00",
                            "shipping_total": "0.00", "shipping_tax": "0.00", "discount_total": "0.00",
                            "line_items": items, "billing": {"email": "a@example.com"}})


def test_the_source_reads_weights_per_page_of_orders_and_a_503_is_retried(wc: WooCommerceSandbox) -> None:
    for _ in range(3):
        paid_order(wc, (33, 0), (31, 3101))
    wc.faults.add("status", status=503, times=1, path="/wp-json/wc/v3/products")
    src = WooCommerce(WooCommerceSettings(url=wc.url, consumer_key=Secret(KEY), consumer_secret=Secret(SECRET)))
    orders = [o for page in src.modified(datetime.now(UTC) - timedelta(hours=1)) for o in page.orders]
    assert len(orders) == 3 and all(isinstance(o, Order) for o in orders)
    for o in orders:
        assert isinstance(o, Order)
        assert [(i.weight, i.weight_unit) for i in o.items] == [(Decimal("0.25"), "pounds"), (Decimal("0.18"), "pounds")]
    catalogue = [r.path for r in wc.requests if "/wc/v3/products" in r.path]
    assert catalogue == ["/wp-json/wc/v3/products"] * 2 + ["/wp-json/wc/v3/products/31/variations"]  # one retry


def test_a_store_whose_catalogue_keeps_failing_still_hands_over_its_orders(wc: WooCommerceSandbox,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    paid_order(wc, (33, 0))
    wc.faults.add("status", status=500, times=100, path="/wp-json/wc/v3/products")
    src = WooCommerce(WooCommerceSettings(url=wc.url, consumer_key=Secret(KEY), consumer_secret=Secret(SECRET)))
    monkeypatch.setattr("connector.sources.woocommerce.retrying", lambda: retrying(multiplier=0.01, max_wait=0.02))
    [page] = list(src.modified(datetime.now(UTC) - timedelta(hours=1)))
    [only] = page.orders
    assert isinstance(only, Order) and only.items[0].weight is None and only.items[0].weight_unit == ""
