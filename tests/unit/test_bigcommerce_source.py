"""The BigCommerce source over real HTTP against the sandbox store: paging, 204, sub-resources, quota, errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connector.config import BigCommerceSettings, Secret
from connector.orders import Order, Rejected
from connector.sandbox import BigCommerceSandbox, sample_bigcommerce_orders
from connector.sandbox.bcdates import format_bc
from connector.sandbox.bigcommerce_data import order_with_lines
from connector.sandbox.server import RecordedRequest, Response
from connector.sources.base import SourceAuthError, SourceError, retrying
from connector.sources.bigcommerce import BigCommerce
from tests.conftest import full

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
TOKEN = "bc_unit_token_7f3a"


def fast_retry() -> Any:
    return retrying(multiplier=0.01, max_wait=0.05)


@pytest.fixture
def store() -> Iterator[BigCommerceSandbox]:
    with BigCommerceSandbox("abc123", TOKEN, quota=None, clock=lambda: NOW) as sandbox:
        yield sandbox
    assert sandbox.errors == []


def source(store: BigCommerceSandbox, **settings: Any) -> BigCommerce:
    options = {"store_hash": store.store_hash, "access_token": Secret(TOKEN), "client_id": None,
               "api_url": store.api_url} | settings
    return BigCommerce(BigCommerceSettings(**options), retry=fast_retry, timeout=5)


def paid(order_id: int, modified: datetime, *, status_id: int = 11, lines: int = 1, **fields: Any) -> dict[str, Any]:
    """A minimal paid order with one shipping address and no coupon, modified at `modified`."""
    return {"id": order_id, "status_id": status_id, "date_created": format_bc(modified - timedelta(minutes=5)),
            "date_modified": format_bc(modified), "currency_code": "USD", "total_inc_tax": "10.0000",
            "coupon_discount": "0.0000", "billing_address": {"first_name": "Jane", "last_name": "Doe",
                                                             "email": "jane@example.com", "country_iso2": "US"},
            "products": [{"name": f"Line {n}", "quantity": 1, "price_ex_tax": "10.0000"} for n in range(lines)],
            "shipping_addresses": [{"first_name": "Jane", "last_name": "Doe", "city": "Austin",
                                    "shipping_method": "Flat Rate"}]} | fields


def orders_of(pages: Any) -> list[Order | Rejected]:
    return [order for page in pages for order in page.orders]


def ids_of(orders: list[Order | Rejected]) -> list[str]:
    return [o.id if isinstance(o, Order) else o.order_id for o in orders]


def calls(store: BigCommerceSandbox, suffix: str) -> list[RecordedRequest]:
    return [r for r in store.requests if r.path.endswith(suffix)]


# -- the HTTP client ------------------------------------------------------------------------

def test_full_base_url_headers_and_timeout(store: BigCommerceSandbox) -> None:
    src = BigCommerce(BigCommerceSettings(store_hash="abc123", access_token=Secret(TOKEN), client_id="client-1",
                                          api_url=store.api_url + "/"), timeout=12)
    assert list(full(src, lambda s: s.modified(NOW))) == []
    [request] = store.requests
    assert request.path == "/stores/abc123/v2/orders"  # scheme and port of BIGCOMMERCE_API_URL honoured
    assert request.header("x-auth-token") == TOKEN and request.header("x-auth-client") == "client-1"
    assert (request.header("user-agent") or "").startswith("connector/")
    assert request.header("accept") == "application/json"
    assert src.api.connection.timeout == (10.0, 12)
    assert "x-auth-client" not in source(store).api.connection.session.headers  # never sent empty


def test_every_request_carries_the_headers_the_spec_requires(store: BigCommerceSandbox) -> None:
    """Orders V2 marks Accept required on every orders GET and Content-Type too on /orders/{id}/products;
    the sandbox refuses a request without them (400), so a missing one would drop the order's lines."""
    store.add_order(paid(1, NOW, lines=2, coupon_discount="5.0000",
                         coupons=[{"code": "SAVE5", "discount": "5.0000"}]))
    src = source(store)
    assert src.probe()
    [order] = orders_of(full(src, lambda s: s.modified(NOW - timedelta(hours=1))))
    assert isinstance(order, Order) and len(order.items) == 2 and order.coupons
    assert {r.path.rsplit("/", 1)[-1] for r in store.requests} >= {"orders", "count", "products",
                                                                      "shipping_addresses", "coupons"}
    assert store.missing_headers == []
    for request in calls(store, "/products"):
        assert request.header("content-type") == "application/json"
        assert request.header("accept") == "application/json"


def test_the_sandbox_refuses_a_products_read_without_content_type(store: BigCommerceSandbox) -> None:
    store.add_order(paid(1, NOW))
    src = source(store)
    del src.api.connection.session.headers["Content-Type"]
    [page] = list(full(src, lambda s: s.modified(NOW - timedelta(hours=1))))
    [order] = page.orders  # the refusal is recorded with the order, never a whole scan's failure
    assert isinstance(order, Rejected) and "Content-Type is missing" in order.reason
    assert store.missing_headers == [("orders/1/products", "Content-Type")]


def test_a_request_that_times_out_is_retried(store: BigCommerceSandbox) -> None:
    store.add_order(paid(1, NOW))
    store.faults.add("slow", delay=0.6, path="/stores/abc123/v2/orders")
    src = BigCommerce(BigCommerceSettings(store_hash="abc123", access_token=Secret(TOKEN), client_id=None,
                                          api_url=store.api_url), timeout=0.3, retry=fast_retry)
    assert ids_of(orders_of(full(src, lambda s: s.modified(NOW - timedelta(hours=1))))) == ["1"]


def test_filters_are_rfc2822_sent_once_encoded(store: BigCommerceSandbox) -> None:
    list(full(source(store), lambda s: s.modified(datetime(2026, 11, 20, 11, 50, 0, 500_000, tzinfo=UTC))))
    [request] = store.requests
    assert request.query["min_date_modified"] == ["Fri, 20 Nov 2026 11:49:59 +0000"]  # a second early
    assert "%252C" not in request.raw_query and "%2C" in request.raw_query
    assert request.query["sort"] == ["date_modified:asc"] and request.query["limit"] == ["250"]
    assert request.query["include"] == ["fees"]


# -- windows, paging, 204 -------------------------------------------------------------------

def test_an_empty_store_is_one_request_and_nothing_else(store: BigCommerceSandbox) -> None:
    src = source(store)
    assert list(full(src, lambda s: s.modified(NOW - timedelta(minutes=10)))) == []
    assert len(store.requests) == 1 and src.requests_sent == 1


def test_keyset_restart_reads_every_order_once_across_full_pages(store: BigCommerceSandbox) -> None:
    for n in range(1, 601):
        store.add_order(paid(n, NOW - timedelta(seconds=700 - n), shipping_addresses=[]))
    src = source(store)
    orders = orders_of(full(src, lambda s: s.modified(NOW - timedelta(seconds=650))))
    # from a second before `since` (n = 49 was modified exactly then): bounds may be exclusive
    assert sorted(int(order_id) for order_id in ids_of(orders)) == list(range(49, 601))
    lists = calls(store, "/v2/orders")
    assert all(r.query["page"] == ["1"] for r in lists)  # restarts, not offsets
    assert len(lists) == 3  # 250 + 250 (restart) + the short page that ends the scan


def test_more_than_a_page_within_one_second_uses_page_2(store: BigCommerceSandbox) -> None:
    for n in range(1, 261):
        store.add_order(paid(n, NOW - timedelta(seconds=30), shipping_addresses=[]))
    orders = orders_of(full(source(store), lambda s: s.modified(NOW - timedelta(minutes=1))))
    assert len({o.id for o in orders if isinstance(o, Order)}) == 260
    assert [r.query["page"] for r in calls(store, "/v2/orders")] == [["1"], ["2"]]


def test_an_order_modified_mid_scan_is_not_skipped(store: BigCommerceSandbox) -> None:
    for n in range(1, 501):
        store.add_order(paid(n, NOW - timedelta(seconds=1000 - n), shipping_addresses=[]))
    src = source(store)
    original = src.api.get
    state = {"moved": False}

    def get(path: str, params: Any = None, **options: Any) -> Any:
        body = original(path, params, **options)
        if path == "orders" and not state["moved"]:
            # order 10 (already read) changes: it jumps to the end, and every later row moves up one place
            store.update_order(10, date_modified=format_bc(NOW), customer_message="gift wrap please")
            state["moved"] = True
        return body

    src.api.get = get  # type: ignore[method-assign]
    orders = orders_of(full(src, lambda s: s.modified(NOW - timedelta(seconds=1000))))
    ids = [o.id for o in orders if isinstance(o, Order)]
    assert set(ids) == {str(n) for n in range(1, 501)}  # offset paging would have lost order 251
    assert ids.count("10") == 2  # and the new version of order 10 is read too


def test_a_backfill_window_excludes_its_end_and_sorts_by_creation(store: BigCommerceSandbox) -> None:
    for n, minutes in enumerate((50, 40, 30, 20), start=1):
        store.add_order(paid(n, NOW, date_created=format_bc(NOW - timedelta(minutes=minutes))))
    orders = orders_of(full(source(store), lambda s: s.created(NOW - timedelta(minutes=45), NOW - timedelta(minutes=20))))
    assert [o.id for o in orders if isinstance(o, Order)] == ["2", "3"]
    assert calls(store, "/v2/orders")[0].query["sort"] == ["date_created:asc"]


def test_only_configured_status_ids_and_incomplete_only_when_asked(store: BigCommerceSandbox) -> None:
    for n, status in enumerate((11, 2, 7, 5, 0, 10), start=1):
        store.add_order(paid(n, NOW - timedelta(seconds=60 - n), status_id=status))
    default = orders_of(full(source(store), lambda s: s.modified(NOW - timedelta(minutes=5))))
    assert {o.id for o in default if isinstance(o, Order)} == {"1", "2", "6"}
    store.reset_requests()
    with_incomplete = orders_of(full(source(store, status_ids=(0, 11)), lambda s: s.modified(NOW - timedelta(minutes=5))))
    assert {o.id for o in with_incomplete if isinstance(o, Order)} == {"1", "5"}
    assert [r.query.get("status_id") for r in calls(store, "/v2/orders")] == [None, ["0"]]


def test_a_row_older_than_the_filter_means_it_was_ignored(store: BigCommerceSandbox) -> None:
    class Careless(BigCommerceSandbox):
        def handle(self, request: RecordedRequest) -> Response:
            request.query.pop("min_date_modified", None)  # a proxy that drops the filter
            return super().handle(request)

    with Careless("abc123", TOKEN, quota=None) as careless:
        careless.add_order(paid(1, NOW - timedelta(days=30)))
        with pytest.raises(SourceError, match="ignored min_date_modified"):
            list(full(source(careless), lambda s: s.modified(NOW - timedelta(minutes=10))))


# -- sub-resources --------------------------------------------------------------------------

def test_all_300_lines_with_limit_250_and_paging(store: BigCommerceSandbox) -> None:
    store.add_order(order_with_lines(300, order_id=7, now=NOW))
    [order] = orders_of(full(source(store), lambda s: s.modified(NOW - timedelta(minutes=10))))
    assert isinstance(order, Order) and len(order.items) == 300
    assert len({item.id for item in order.items}) == 300
    products = calls(store, "/orders/7/products")
    assert [(r.query["limit"], r.query["page"]) for r in products] == [(["250"], ["1"]), (["250"], ["2"])]
    assert order.items[0].weight_unit == "pounds"  # from the store's weight_units, read once


def test_requests_per_order_skip_what_the_order_says_is_empty(store: BigCommerceSandbox) -> None:
    store.add_order(paid(1, NOW - timedelta(seconds=5)))
    store.add_order(paid(2, NOW - timedelta(seconds=4), shipping_addresses=[], order_is_digital=True))
    store.add_order(paid(3, NOW - timedelta(seconds=3), coupon_discount="5.0000",
                         coupons=[{"code": "SAVE5", "amount": 5, "type": 2, "discount": 5}]))
    src = source(store)
    orders = {o.id: o for o in orders_of(full(src, lambda s: s.modified(NOW - timedelta(minutes=1)))) if isinstance(o, Order)}
    assert orders["3"].coupons[0].code == "SAVE5" and orders["2"].shipping_address is None
    assert sorted(r.path.rsplit("/", 2)[-2:] for r in store.requests if "/orders/" in r.path) == [  # read at once
        ["1", "products"], ["1", "shipping_addresses"],
        ["2", "products"],
        ["3", "coupons"], ["3", "products"], ["3", "shipping_addresses"],
    ]
    assert src.requests_sent == 1 + 1 + 6  # the listing, the store's weight unit, the sub-resources


def test_an_order_gone_before_its_details_is_skipped(store: BigCommerceSandbox, caplog: pytest.LogCaptureFixture) -> None:
    store.add_order(paid(1, NOW - timedelta(seconds=5)))
    store.add_order(paid(2, NOW - timedelta(seconds=4)))
    src = source(store)
    original = src.api.get

    def get(path: str, params: Any = None, **options: Any) -> Any:
        body = original(path, params, **options)
        if path == "orders":
            store.remove_order(1)
        return body

    src.api.get = get  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        orders = orders_of(full(src, lambda s: s.modified(NOW - timedelta(minutes=1))))
    assert [o.id for o in orders if isinstance(o, Order)] == ["2"]
    assert "order 1 was listed but its details are gone" in caplog.text


def test_an_order_the_ledger_holds_unchanged_costs_no_request(store: BigCommerceSandbox) -> None:
    store.add_order(paid(1, NOW - timedelta(seconds=5)))
    store.add_order(paid(2, NOW - timedelta(seconds=4)))
    first = source(store)
    known = {o.id: o for o in orders_of(full(first, lambda s: s.modified(NOW - timedelta(minutes=1)))) if isinstance(o, Order)}
    store.update_order(2, status_id=2)
    store.reset_requests()
    again = source(store)
    held = {(o.id, o.modified_at): o for o in known.values()}  # what the poll loop's `Ledger.known` would answer
    pages = list(again.modified(NOW - timedelta(minutes=1)))
    assert [r for r in store.requests if "/orders/" in r.path] == []  # listing only: nothing expanded yet
    orders = {o.id: o for page in pages for o in again.expand(page, held).orders if isinstance(o, Order)}
    assert orders["1"] is known["1"] and orders["2"].status == "shipped"
    assert {r.path.rsplit("/", 2)[-2] for r in store.requests if "/orders/" in r.path} == {"2"}
    assert (again.recalled, again.fetched) == (1, 1)


# -- quota, 429, errors ---------------------------------------------------------------------

def test_pauses_before_the_quota_is_spent_and_meets_no_429() -> None:
    with BigCommerceSandbox("abc123", TOKEN, quota=5, window_ms=400, clock=lambda: NOW) as small:
        for n in range(1, 7):
            small.add_order(paid(n, NOW - timedelta(seconds=60 - n)))
        src = source(small)
        started = time.monotonic()
        orders = orders_of(full(src, lambda s: s.modified(NOW - timedelta(minutes=5))))
        assert len(orders) == 6 and small.refused == 0 and src.api.rate_limited == 0
        assert src.requests_sent == 14  # listing, store, 6 × (products, shipping addresses)
        assert time.monotonic() - started >= 3 * 0.4 * 0.9  # 14 requests at 4 per window: at least 3 resets
        assert src.api.limit.paused > 0


def test_a_429_from_other_apps_spending_the_quota_waits_for_the_reset() -> None:
    with BigCommerceSandbox("abc123", TOKEN, quota=4, window_ms=300, clock=lambda: NOW) as busy:
        busy.add_order(paid(1, NOW - timedelta(seconds=5)))
        busy.consume(4)  # another app spent the whole window
        src = source(busy)
        orders = orders_of(full(src, lambda s: s.modified(NOW - timedelta(minutes=5))))
        assert ids_of(orders) == ["1"]
        assert busy.refused == 1 and src.api.rate_limited == 1
        refused, retried = busy.requests[0], busy.requests[1]
        assert refused.path == retried.path == "/stores/abc123/v2/orders"


def test_a_429_without_headers_and_5xx_are_retried_with_backoff(store: BigCommerceSandbox) -> None:
    store.add_order(paid(1, NOW - timedelta(seconds=5)))
    store.faults.add("status", status=429)  # platform load: no rate-limit headers, no Retry-After
    store.faults.add("status", status=503)
    store.faults.add("status", status=500, path="/stores/abc123/v2/orders/1/products")
    src = source(store)
    assert ids_of(orders_of(full(src, lambda s: s.modified(NOW - timedelta(minutes=5))))) == ["1"]
    assert src.api.rate_limited == 1 and len(store.faults) == 0


def test_persistent_5xx_becomes_a_source_error(store: BigCommerceSandbox) -> None:
    store.faults.add("status", times=5, status=502)
    with pytest.raises(SourceError, match="answered 502"):
        list(full(source(store), lambda s: s.modified(NOW)))


def test_refused_token_is_an_auth_error_without_the_token(store: BigCommerceSandbox) -> None:
    wrong = "bc_wrong_token_91d2"
    src = BigCommerce(BigCommerceSettings(store_hash="abc123", access_token=Secret(wrong), client_id=None,
                                          api_url=store.api_url), retry=fast_retry)
    with pytest.raises(SourceAuthError) as refused:
        list(full(src, lambda s: s.modified(NOW)))
    assert "BIGCOMMERCE_ACCESS_TOKEN" in str(refused.value) and wrong not in str(refused.value)
    assert len(store.requests) == 1  # not retried


def test_a_wrong_store_hash_is_a_404_error(store: BigCommerceSandbox) -> None:
    with pytest.raises(SourceError, match="404"):
        list(full(source(store, store_hash="nosuchstore"), lambda s: s.modified(NOW)))


# -- estimate and probe ---------------------------------------------------------------------

def test_estimate_counts_orders_and_the_time_they_take_at_the_quota() -> None:
    with BigCommerceSandbox("abc123", TOKEN, quota=150, window_ms=30_000) as counted:
        for order in sample_bigcommerce_orders(40, now=NOW):
            counted.add_order(order)
        src = source(counted)
        estimate = src.estimate(NOW - timedelta(days=4), None)
        listed = [o for o in counted.orders.values() if o["status_id"] != 0]
        eligible = [o for o in listed if o["status_id"] in (2, 3, 8, 9, 10, 11)]
        assert (estimate.orders, estimate.eligible) == (len(listed), len(eligible))
        assert estimate.requests == 1 + 3 * len(eligible) + 1
        assert estimate.seconds == 0.0  # fits in one window of 135
        assert "135 requests per 30 s" in estimate.note and "150" in estimate.note
        pages = list(full(src, lambda s: s.created(NOW - timedelta(days=4), None)))
        assert sum(page.seen for page in pages) == estimate.orders  # what the progress bar counts
        assert src.requests_sent - 1 <= estimate.requests
        assert "orders, " in source(counted).probe()


def test_store_settings_out_of_scope_leave_weights_without_a_unit(caplog: pytest.LogCaptureFixture) -> None:
    class NoInfoScope(BigCommerceSandbox):
        def handle(self, request: RecordedRequest) -> Response:
            if request.path.endswith("/v2/store"):
                return Response.json(403, [{"status": 403, "message": "You don't have a required scope"}])
            return super().handle(request)

    with NoInfoScope("abc123", TOKEN, quota=None) as store:
        store.add_order(paid(1, NOW - timedelta(seconds=5), products=[{"quantity": 1, "weight": "2.5000"}]))
        src = source(store)
        with caplog.at_level(logging.WARNING):
            [order] = orders_of(full(src, lambda s: s.modified(NOW - timedelta(minutes=1))))
            orders_of(full(src, lambda s: s.modified(NOW - timedelta(minutes=1))))
        assert isinstance(order, Order) and order.items[0].weight == Decimal("2.5000")
        assert order.items[0].weight_unit == ""
        assert caplog.text.count("line weights are sent without a unit") == 1  # asked once, said once
        assert "lacks the scope" in caplog.text and len(calls(store, "/v2/store")) == 1
