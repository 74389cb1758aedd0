"""The BigCommerce sandbox behaves like a V2 store, seen through plain requests (as any client would)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from connector.config import BigCommerceSettings, Secret
from connector.orders import Order
from connector.sandbox import BigCommerceSandbox, sample_bigcommerce_orders
from connector.sandbox.bcdates import format_bc, parse_bc
from connector.sandbox.bigcommerce_data import order_with_lines
from connector.sources.bigcommerce import BigCommerce

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
TOKEN = "bc_sandbox_test_token"


class Client:
    def __init__(self, store: BigCommerceSandbox, token: str = TOKEN) -> None:
        self.base = f"{store.api_url}/stores/{store.store_hash}/v2/"
        self.session = requests.Session()
        self.session.headers.update({"X-Auth-Token": token, "Accept": "application/json",
                                     "Content-Type": "application/json"})

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.base + path, params=params, timeout=10)


@pytest.fixture
def store() -> Iterator[BigCommerceSandbox]:
    with BigCommerceSandbox("store42", TOKEN, quota=None, clock=lambda: NOW) as sandbox:
        yield sandbox
    assert sandbox.errors == []


@pytest.fixture
def client(store: BigCommerceSandbox) -> Client:
    return Client(store)


def order(order_id: int, *, created: datetime, modified: datetime | None = None, status_id: int = 11,
          **fields: Any) -> dict[str, Any]:
    return {"id": order_id, "status_id": status_id, "date_created": format_bc(created),
            "date_modified": format_bc(modified or created), "customer_id": order_id % 3,
            "billing_address": {"email": f"c{order_id}@example.com"}} | fields


def ids(response: requests.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]


# -- auth and routing ---------------------------------------------------------------------

def test_x_auth_token_is_required(store: BigCommerceSandbox) -> None:
    for token in ("", "wrong"):
        response = Client(store, token).get("orders")
        assert response.status_code == 401
        assert response.json()[0]["status"] == 401
        assert "X-Rate-Limit-Requests-Left" not in response.headers


def test_unknown_store_hash_and_paths_are_404(store: BigCommerceSandbox, client: Client) -> None:
    assert requests.get(f"{store.api_url}/stores/other/v2/orders", headers={"X-Auth-Token": TOKEN},
                        timeout=5).status_code == 404
    assert client.get("orders/999").status_code == 404
    assert client.get("widgets").status_code == 404


# -- the orders list ------------------------------------------------------------------------

def test_empty_list_is_204_with_no_body(client: Client) -> None:
    response = client.get("orders")
    assert response.status_code == 204 and response.content == b""


def test_dates_filter_in_rfc2822_and_iso8601(store: BigCommerceSandbox, client: Client) -> None:
    for n in range(1, 6):
        store.add_order(order(n, created=NOW - timedelta(hours=n), modified=NOW - timedelta(minutes=n)))
    # bounds are inclusive, to the second; offsets are honoured
    assert ids(client.get("orders", min_date_created=format_bc(NOW - timedelta(hours=3)))) == [1, 2, 3]
    assert ids(client.get("orders", min_date_created="2026-11-20T07:00:00.000-02:00")) == [1, 2, 3]
    assert ids(client.get("orders", max_date_created="Fri, 20 Nov 2026 08:00:00 +0000")) == [4, 5]
    assert ids(client.get("orders", min_date_modified="2026-11-20T11:57:00Z",
                          max_date_modified="2026-11-20T11:58:00+00:00")) == [2, 3]
    bad = client.get("orders", min_date_modified="last tuesday")
    assert bad.status_code == 400 and "min_date_modified" in bad.json()[0]["message"]


def test_status_ids_and_incomplete_orders(store: BigCommerceSandbox, client: Client) -> None:
    for n, status in enumerate((11, 0, 7, 11, 0), start=1):
        store.add_order(order(n, created=NOW - timedelta(hours=n), status_id=status))
    assert ids(client.get("orders")) == [1, 3, 4]  # Incomplete only when asked for
    assert ids(client.get("orders", status_id=0)) == [2, 5]
    assert ids(client.get("orders", status_id=11)) == [1, 4]
    counted = client.get("orders/count").json()
    assert counted["count"] == 5  # the count includes them, as in the spec's example
    by_status = {s["id"]: s["count"] for s in counted["statuses"]}
    assert (by_status[0], by_status[11], by_status[7], by_status[2]) == (2, 2, 1, 0)
    assert len(counted["statuses"]) == 15


def test_ids_sort_and_paging(store: BigCommerceSandbox, client: Client) -> None:
    for n in range(1, 61):
        store.add_order(order(n, created=NOW - timedelta(minutes=n), modified=NOW - timedelta(seconds=n % 7)))
    assert len(ids(client.get("orders"))) == 50  # the default limit
    assert ids(client.get("orders", min_id=5, max_id=8)) == [5, 6, 7, 8]
    assert ids(client.get("orders", sort="date_created:asc", limit=3)) == [60, 59, 58]
    assert ids(client.get("orders", sort="id:desc", limit=2, page=2)) == [58, 57]
    by_modified = client.get("orders", sort="date_modified:asc", limit=250).json()
    moments = [parse_bc(row["date_modified"]) for row in by_modified]
    assert moments == sorted(moments) and len(by_modified) == 60
    assert client.get("orders", page=3, limit=30).status_code == 204
    assert client.get("orders", sort="total").status_code == 400


def test_limit_over_250_is_413_with_the_documented_body(store: BigCommerceSandbox, client: Client) -> None:
    store.add_order(order(1, created=NOW))
    response = client.get("orders", limit=251)
    assert response.status_code == 413
    assert response.json() == {"status": 413, "message": "The specified limit exceeds the maximum allowed.",
                               "details": {"max_limit": 250}}
    assert client.get("orders/1/products", limit=500).status_code == 413


def test_orders_are_rendered_with_link_objects_or_inlined_fees(store: BigCommerceSandbox, client: Client) -> None:
    store.add_order(order(1, created=NOW, fees=[{"display_name_customer": "Order Protection", "cost_ex_tax": "2.5000"}]))
    [plain] = client.get("orders").json()
    assert plain["products"] == {"url": f"{client.base}orders/1/products", "resource": "/orders/1/products"}
    assert plain["shipping_addresses"]["resource"] == "/orders/1/shippingaddresses"
    assert plain["fees"]["resource"] == "/orders/1/fees" and "resource" in plain["coupons"]
    [with_fees] = client.get("orders", include="fees").json()
    assert with_fees["fees"][0]["display_name_customer"] == "Order Protection"
    assert client.get("orders/1").json()["date_created"] == "Fri, 20 Nov 2026 12:00:00 +0000"


# -- sub-resources --------------------------------------------------------------------------

def test_products_page_by_50_unless_asked(store: BigCommerceSandbox, client: Client) -> None:
    store.add_order(order_with_lines(300, order_id=9, now=NOW))
    assert len(client.get("orders/9/products").json()) == 50
    assert len(client.get("orders/9/products", limit=250).json()) == 250
    assert len(client.get("orders/9/products", limit=250, page=2).json()) == 50
    assert client.get("orders/9/products", limit=250, page=3).status_code == 204
    assert client.get("orders/9/products").json()[0]["order_id"] == 9


def test_addresses_coupons_and_their_spellings(store: BigCommerceSandbox, client: Client) -> None:
    store.add_order(order(1, created=NOW, shipping_addresses=[{"first_name": "Jane", "shipping_method": "Flat Rate"}],
                          coupons=[{"code": "SAVE5", "discount": 5}]))
    [address] = client.get("orders/1/shipping_addresses").json()
    assert address["shipping_method"] == "Flat Rate" and address["order_id"] == 1
    assert address["shipping_quotes"]["resource"].endswith(f"/shippingaddresses/{address['id']}/shippingquotes")
    assert client.get("orders/1/shippingaddresses").json()[0]["id"] == address["id"]
    assert client.get("orders/1/coupons").json()[0]["code"] == "SAVE5"
    store.add_order(order(2, created=NOW))
    assert client.get("orders/2/coupons").status_code == 204


def test_store_settings_and_statuses(client: Client) -> None:
    assert client.get("store").json()["weight_units"] == "LBS"
    statuses = client.get("order_statuses").json()
    assert {s["id"]: s["name"] for s in statuses}[11] == "Awaiting Fulfillment"


# -- the quota ------------------------------------------------------------------------------

def test_rate_limit_headers_and_real_429s() -> None:
    with BigCommerceSandbox("store42", TOKEN, quota=3, window_ms=300) as limited:
        client = Client(limited)
        answers = [client.get("orders") for _ in range(4)]
        assert [a.status_code for a in answers] == [204, 204, 204, 429]
        assert [a.headers["X-Rate-Limit-Requests-Left"] for a in answers] == ["2", "1", "0", "0"]
        assert answers[0].headers["X-Rate-Limit-Requests-Quota"] == "3"
        assert answers[0].headers["X-Rate-Limit-Time-Window-Ms"] == "300"
        assert 0 < int(answers[3].headers["X-Rate-Limit-Time-Reset-Ms"]) <= 300
        assert answers[3].content == b""  # as real 429s can be
        time.sleep(int(answers[3].headers["X-Rate-Limit-Time-Reset-Ms"]) / 1000 + 0.02)
        assert client.get("orders").headers["X-Rate-Limit-Requests-Left"] == "2"  # a new window
        limited.consume(5)  # the store's other apps
        assert client.get("orders").status_code == 429
        assert limited.refused == 2


def test_faults_answer_before_the_quota_and_auth(store: BigCommerceSandbox, client: Client) -> None:
    store.faults.add("status", status=503)
    response = client.get("orders")
    assert response.status_code == 503 and response.json() == [{"status": 503, "message": "Service Unavailable"}]
    assert client.get("orders").status_code == 204


# -- the store's state ----------------------------------------------------------------------

def test_add_and_update_keep_the_order_consistent(store: BigCommerceSandbox) -> None:
    added = store.add_order({"status_id": 0, "products": [{"quantity": 2}, {"quantity": 1}],
                             "shipping_addresses": [{"first_name": "A"}]})
    assert added["id"] == 101 and added["status"] == "Incomplete"
    assert added["date_created"] == added["date_modified"] == "Fri, 20 Nov 2026 12:00:00 +0000"
    assert added["items_total"] == 3 and added["shipping_address_count"] == 1
    assert all(p["order_id"] == 101 and p["id"] for p in added["products"])
    with pytest.raises(ValueError):
        store.add_order({"id": 101})
    later = BigCommerceSandbox("s", "t", quota=None, clock=lambda: NOW + timedelta(minutes=3))
    later.add_order(added)
    paid = later.update_order(101, status_id=11)
    assert paid["status"] == paid["custom_status"] == "Awaiting Fulfillment"
    assert paid["date_modified"] == "Fri, 20 Nov 2026 12:03:00 +0000" and paid["date_created"] == added["date_created"]
    shipped = later.update_order(101, status_id=2)
    assert shipped["date_shipped"] == shipped["date_modified"]


# -- sample data ----------------------------------------------------------------------------

def test_sample_orders_are_deterministic_realistic_and_readable() -> None:
    orders = sample_bigcommerce_orders(40, now=NOW)
    assert orders == sample_bigcommerce_orders(40, now=NOW)
    assert sample_bigcommerce_orders(40, now=NOW, seed=8) != orders
    statuses = [o["status_id"] for o in orders]
    assert 0 in statuses and {11, 7}.issubset(statuses)
    assert any(o["customer_id"] == 0 and o["status_id"] in (2, 9, 10, 11) for o in orders)  # a paying guest
    assert any(o["currency_code"] is None for o in orders)
    assert any(o["coupons"] for o in orders) and any(o["fees"] for o in orders)
    for raw in orders:
        assert raw["total_inc_tax"].count(".") == 1 and len(raw["total_inc_tax"].split(".")[1]) == 4
        created, modified = parse_bc(raw["date_created"]), parse_bc(raw["date_modified"])
        assert NOW - timedelta(days=3) <= created <= modified <= NOW
        fees = sum((Decimal(f["cost_ex_tax"]) for f in raw["fees"]), Decimal("0"))
        assert Decimal(raw["total_inc_tax"]) == (Decimal(raw["subtotal_ex_tax"]) - Decimal(raw["discount_amount"])
                                                 + Decimal(raw["shipping_cost_ex_tax"]) + fees
                                                 + Decimal(raw["total_tax"]))
    source = BigCommerce(BigCommerceSettings(store_hash="store42", access_token=Secret("x"), client_id=None))
    parsed = [source.parse(raw) for raw in orders]
    assert all(isinstance(o, Order) and o.items and o.billing.email for o in parsed)
    assert {o.currency for o in parsed} == {"USD"}
