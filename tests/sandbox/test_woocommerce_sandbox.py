"""The WooCommerce sandbox behaves like a wc/v3 store, seen through the official `woocommerce` client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
import requests
from woocommerce import API
from woocommerce.oauth import OAuth

from connector.sandbox import WooCommerceSandbox, sample_woocommerce_orders


def ids(response: requests.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [order["id"] for order in response.json()]


def add_orders(store: WooCommerceSandbox, orders: list[dict[str, Any]]) -> list[int]:
    return [store.add_order(order)["id"] for order in orders]


# -- authentication ------------------------------------------------------------------------

def test_official_client_authenticates_with_oauth_over_http(store: WooCommerceSandbox, api: API, now: datetime,
                                                             order_at: Any) -> None:
    store.add_order(order_at(now - timedelta(hours=1)))

    response = api.get("orders", params={"per_page": 5, "status": "processing"})

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert len(response.json()) == 1
    request = store.requests[-1]
    assert request.query["oauth_signature_method"] == ["HMAC-SHA256"]
    assert request.query["per_page"] == ["5", "5"]  # the client sends its params twice; the last one wins


def test_wrong_secret_gets_woocommerce_401(store: WooCommerceSandbox) -> None:
    api = API(url=store.url, consumer_key=store.consumer_key, consumer_secret="cs_wrong", version="wc/v3", timeout=10)

    response = api.get("orders")

    assert response.status_code == 401
    assert response.json() == {
        "code": "woocommerce_rest_authentication_error",
        "message": "Invalid signature - provided signature does not match.",
        "data": {"status": 401},
    }


def test_unknown_consumer_key_is_rejected(store: WooCommerceSandbox) -> None:
    api = API(url=store.url, consumer_key="ck_other", consumer_secret=store.consumer_secret, version="wc/v3",
              timeout=10)

    response = api.get("orders")

    assert response.status_code == 401
    assert response.json()["message"] == "Consumer key is invalid."


def test_no_credentials_cannot_list(store: WooCommerceSandbox) -> None:
    response = requests.get(f"{store.url}/wp-json/wc/v3/orders", timeout=10)

    assert response.status_code == 401
    assert response.json() == {
        "code": "woocommerce_rest_cannot_view",
        "message": "Sorry, you cannot list resources.",
        "data": {"status": 401},
    }


def test_oauth_nonce_is_single_use(store: WooCommerceSandbox, api: API) -> None:
    assert api.get("orders").status_code == 200
    replayed = f"{store.url}{store.requests[-1].path}?{store.requests[-1].raw_query}"

    response = requests.get(replayed, timeout=10)

    assert response.status_code == 401
    assert response.json()["message"] == "Invalid nonce - nonce has already been used."


def test_oauth_timestamp_must_be_within_15_minutes(store: WooCommerceSandbox) -> None:
    url = f"{store.url}/wp-json/wc/v3/orders"
    stale = OAuth(url, store.consumer_key, store.consumer_secret, version="wc/v3", method="GET",
                  oauth_timestamp=int(time.time()) - 16 * 60).get_oauth_url()
    fresh = OAuth(url, store.consumer_key, store.consumer_secret, version="wc/v3", method="GET",
                  oauth_timestamp=int(time.time()) - 14 * 60).get_oauth_url()

    assert requests.get(stale, timeout=10).json()["message"] == "Invalid timestamp."
    assert requests.get(fresh, timeout=10).status_code == 200


def test_oauth_signature_covers_the_query(store: WooCommerceSandbox) -> None:
    signed = OAuth(f"{store.url}/wp-json/wc/v3/orders?per_page=5", store.consumer_key, store.consumer_secret,
                   version="wc/v3", method="GET").get_oauth_url()

    response = requests.get(signed.replace("per_page=5", "per_page=6"), timeout=10)

    assert response.status_code == 401
    assert response.json()["message"] == "Invalid signature - provided signature does not match."


def test_oauth_header_with_hmac_sha1(store: WooCommerceSandbox) -> None:
    url = f"{store.url}/wp-json/wc/v3/orders"
    oauth = {"oauth_consumer_key": store.consumer_key, "oauth_nonce": "n0nce42",
             "oauth_signature_method": "HMAC-SHA1", "oauth_timestamp": str(int(time.time()))}
    params = {**oauth, "per_page": "3"}
    pairs = "%26".join(f"{key}%3D{quote(value, safe='').replace('%', '%25')}" for key, value in sorted(params.items()))
    base = f"GET&{quote(url, safe='')}&{pairs}"
    digest = hmac.new(f"{store.consumer_secret}&".encode(), base.encode(), hashlib.sha1).digest()
    oauth["oauth_signature"] = base64.b64encode(digest).decode()
    header = "OAuth " + ", ".join(f'{key}="{quote(value, safe="")}"' for key, value in oauth.items())

    response = requests.get(url, params={"per_page": "3"}, headers={"Authorization": header}, timeout=10)

    assert response.status_code == 200, response.text


def test_basic_and_query_string_auth(store: WooCommerceSandbox) -> None:
    url = f"{store.url}/wp-json/wc/v3/orders"
    credentials = {"consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret}

    assert requests.get(url, auth=(store.consumer_key, store.consumer_secret), timeout=10).status_code == 200
    assert requests.get(url, params=credentials, timeout=10).status_code == 200
    wrong = requests.get(url, auth=(store.consumer_key, "cs_wrong"), timeout=10)
    assert wrong.status_code == 401
    assert wrong.json()["message"] == "Consumer secret is invalid."


def test_basic_auth_can_be_refused_like_a_plain_http_store(clock: Any) -> None:
    with WooCommerceSandbox(clock=clock, allow_basic_auth=False) as store:
        response = requests.get(f"{store.url}/wp-json/wc/v3/orders", auth=(store.consumer_key, store.consumer_secret),
                                timeout=10)

    assert response.status_code == 401
    assert response.json()["code"] == "woocommerce_rest_cannot_view"


# -- paging --------------------------------------------------------------------------------

def test_paging_headers_and_links(store: WooCommerceSandbox, api: API, now: datetime, order_at: Any) -> None:
    created = add_orders(store, [order_at(now - timedelta(minutes=n)) for n in range(25, 0, -1)])

    first = api.get("orders", params={"per_page": 10, "order": "asc"})
    middle = api.get("orders", params={"per_page": 10, "page": 2, "order": "asc"})
    last = api.get("orders", params={"per_page": 10, "page": 3, "order": "asc"})
    beyond = api.get("orders", params={"per_page": 10, "page": 4, "order": "asc"})

    assert ids(first) + ids(middle) + ids(last) == created
    for response in (first, middle, last, beyond):
        assert response.headers["X-WP-Total"] == "25"
        assert response.headers["X-WP-TotalPages"] == "3"
    assert first.links["next"]["url"].endswith("page=2") and "prev" not in first.links
    assert set(middle.links) == {"prev", "next"}
    assert parse_qs(urlsplit(middle.links["next"]["url"]).query)["page"] == ["3"]
    assert set(last.links) == {"prev"}
    assert beyond.json() == []


@pytest.mark.parametrize(("value", "message"), [
    ("101", "per_page must be between 1 (inclusive) and 100 (inclusive)"),
    ("0", "per_page must be between 1 (inclusive) and 100 (inclusive)"),
    ("ten", "per_page is not of type integer."),
])
def test_per_page_outside_1_to_100_is_400(api: API, value: str, message: str) -> None:
    response = api.get("orders", params={"per_page": value})

    assert response.status_code == 400
    assert response.json() == {
        "code": "rest_invalid_param",
        "message": "Invalid parameter(s): per_page",
        "data": {"status": 400, "params": {"per_page": message}},
    }


def test_page_zero_and_bad_enum_are_400(api: API) -> None:
    response = api.get("orders", params={"page": 0, "order": "up"})

    assert response.status_code == 400
    assert response.json()["data"]["params"] == {
        "page": "page must be greater than or equal to 1",
        "order": "order is not one of asc and desc.",
    }


# -- date filters --------------------------------------------------------------------------

def test_modified_after_and_before_are_strict(store: WooCommerceSandbox, api: API, now: datetime,
                                              order_at: Any) -> None:
    base = now - timedelta(hours=2)
    at_bound, after_bound = add_orders(store, [order_at(base - timedelta(days=1), base),
                                               order_at(base - timedelta(days=1), base + timedelta(seconds=1))])
    bound = base.strftime("%Y-%m-%dT%H:%M:%S")
    upper = (base + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")

    assert ids(api.get("orders", params={"modified_after": bound, "dates_are_gmt": "true"})) == [after_bound]
    assert ids(api.get("orders", params={"modified_before": upper, "dates_are_gmt": "true"})) == [at_bound]
    both = {"modified_after": bound, "modified_before": upper, "dates_are_gmt": "true"}
    assert ids(api.get("orders", params=both)) == []


def test_after_filters_on_creation_not_modification(store: WooCommerceSandbox, api: API, now: datetime,
                                                    order_at: Any) -> None:
    (late_paid,) = add_orders(store, [order_at(now - timedelta(days=2), now - timedelta(minutes=5))])
    since = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")

    assert ids(api.get("orders", params={"after": since, "dates_are_gmt": "true"})) == []
    assert ids(api.get("orders", params={"modified_after": since, "dates_are_gmt": "true"})) == [late_paid]


def test_dates_are_gmt_chooses_the_column(store: WooCommerceSandbox, api: API, now: datetime, order_at: Any) -> None:
    # modified 12:00:00 UTC = 09:00:00 on the UTC-3 site
    (order_id,) = add_orders(store, [order_at(now - timedelta(days=1), now)])
    assert store.orders[order_id]["date_modified"] == "2026-11-20T09:00:00"

    in_gmt = api.get("orders", params={"modified_after": "2026-11-20T10:00:00", "dates_are_gmt": "true"})
    in_local = api.get("orders", params={"modified_after": "2026-11-20T10:00:00"})
    local_earlier = api.get("orders", params={"modified_after": "2026-11-20T08:59:59", "dates_are_gmt": "false"})

    assert ids(in_gmt) == [order_id]
    assert ids(in_local) == []
    assert ids(local_earlier) == [order_id]


def test_a_value_with_an_offset_is_misapplied_like_wordpress(store: WooCommerceSandbox, api: API, now: datetime,
                                                              order_at: Any) -> None:
    (order_id,) = add_orders(store, [order_at(now - timedelta(days=1), now)])  # modified 12:00:00Z

    # "13:30Z" is after the modification, but WordPress turns it into 10:30 site time and then
    # compares it with the GMT column: the order is (wrongly) returned.
    misapplied = api.get("orders", params={"modified_after": "2026-11-20T13:30:00Z", "dates_are_gmt": "true"})
    naive = api.get("orders", params={"modified_after": "2026-11-20T13:30:00", "dates_are_gmt": "true"})

    assert ids(misapplied) == [order_id]
    assert ids(naive) == []


def test_invalid_date_is_400(api: API) -> None:
    response = api.get("orders", params={"modified_after": "yesterday"})

    assert response.status_code == 400
    assert response.json()["data"]["params"] == {"modified_after": "Invalid date."}


def test_old_woocommerce_ignores_modified_after(clock: Any, now: datetime, order_at: Any) -> None:
    with WooCommerceSandbox(wc_version="5.7.2", clock=clock) as store:
        add_orders(store, [order_at(now - timedelta(days=2)), order_at(now - timedelta(days=1))])
        api = API(url=store.url, consumer_key=store.consumer_key, consumer_secret=store.consumer_secret,
                  version="wc/v3", timeout=10)

        response = api.get("orders", params={"modified_after": "2030-01-01T00:00:00", "dates_are_gmt": "true"})
        args = api.options("orders").json()["endpoints"][0]["args"]

    assert len(ids(response)) == 2
    assert "modified_after" not in args and "after" in args


# -- filters and sorting -------------------------------------------------------------------

def test_status_filter(store: WooCommerceSandbox, api: API, now: datetime, order_at: Any) -> None:
    statuses = ["processing", "completed", "pending", "on-hold", "cancelled", "trash"]
    created = add_orders(store, [order_at(now - timedelta(hours=n), status=s) for n, s in enumerate(statuses, 1)])
    by_status = dict(zip(statuses, created, strict=True))

    paid = api.get("orders", params={"status": "processing,completed"})
    array_form = requests.get(f"{store.url}/wp-json/wc/v3/orders", timeout=10,
                              params={"status[]": ["pending", "on-hold"], "consumer_key": store.consumer_key,
                                      "consumer_secret": store.consumer_secret})
    default = api.get("orders")
    trash = api.get("orders", params={"status": "trash"})
    invalid = api.get("orders", params={"status": "paid"})

    assert sorted(ids(paid)) == sorted([by_status["processing"], by_status["completed"]])
    assert sorted(ids(array_form)) == sorted([by_status["pending"], by_status["on-hold"]])
    assert by_status["trash"] not in ids(default) and len(ids(default)) == 5
    assert ids(trash) == [by_status["trash"]]
    assert invalid.status_code == 400
    assert invalid.json()["data"]["params"]["status"].startswith("status[0] is not one of any, trash,")


def test_order_and_orderby(store: WooCommerceSandbox, api: API, now: datetime, order_at: Any) -> None:
    same_second = now - timedelta(hours=3)
    first, second, third = add_orders(store, [
        order_at(same_second, now - timedelta(minutes=1)),
        order_at(same_second, now - timedelta(minutes=30)),
        order_at(now - timedelta(hours=1), now - timedelta(minutes=20)),
    ])

    assert ids(api.get("orders")) == [third, second, first]  # date desc, ties by id desc
    assert ids(api.get("orders", params={"order": "asc"})) == [first, second, third]
    assert ids(api.get("orders", params={"orderby": "modified", "order": "asc"})) == [second, third, first]
    assert ids(api.get("orders", params={"orderby": "id", "order": "desc"})) == [third, second, first]


def test_include_fields_and_single_order(store: WooCommerceSandbox, api: API) -> None:
    orders = sample_woocommerce_orders(6, now=store.now())
    for order in orders:
        store.add_order(order)
    wanted = [orders[1]["id"], orders[4]["id"]]

    listed = api.get("orders", params={"include": ",".join(map(str, wanted)), "_fields": "id,billing.email"})
    single = api.get(f"orders/{wanted[0]}")
    missing = api.get("orders/999999")

    assert sorted(ids(listed)) == sorted(wanted)
    assert all(set(order) == {"id", "billing"} and set(order["billing"]) == {"email"} for order in listed.json())
    body = single.json()
    assert {key: value for key, value in body.items() if key != "_links"} == \
        {key: value for key, value in orders[1].items() if key != "_links"}
    assert body["_links"]["self"][0]["href"] == f"{store.url}/wp-json/wc/v3/orders/{wanted[0]}"
    assert missing.status_code == 404
    assert missing.json() == {"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID.",
                              "data": {"status": 404}}


def test_search_customer_and_product(store: WooCommerceSandbox, api: API, now: datetime, order_at: Any) -> None:
    jane, john = add_orders(store, [
        order_at(now, customer_id=7, line_items=[{"product_id": 31, "name": "Classic Crew T-Shirt"}]),
        order_at(now, customer_id=0, billing={"first_name": "John", "last_name": "Doe", "email": "john@example.org"},
                 line_items=[{"product_id": 34, "name": "Stoneware Mug"}]),
    ])

    assert ids(api.get("orders", params={"search": "Jane Smith"})) == [jane]
    assert ids(api.get("orders", params={"search": "john@example.org"})) == [john]
    assert ids(api.get("orders", params={"search": "mug"})) == [john]
    assert ids(api.get("orders", params={"customer": 7})) == [jane]
    assert ids(api.get("orders", params={"product": 34})) == [john]


def test_rest_route_fallback_and_index(store: WooCommerceSandbox) -> None:
    query = f"rest_route=/wc/v3/orders&consumer_key={store.consumer_key}&consumer_secret={store.consumer_secret}"

    fallback = requests.get(f"{store.url}/?{query}", timeout=10)
    index = requests.get(f"{store.url}/wp-json/wc/v3", timeout=10)

    assert fallback.status_code == 200 and fallback.json() == []
    assert index.json()["namespace"] == "wc/v3"
    assert "modified_after" in index.json()["routes"]["/wc/v3/orders"]["endpoints"][0]["args"]


# -- store changes -------------------------------------------------------------------------

def test_add_order_assigns_id_number_and_dates(store: WooCommerceSandbox) -> None:
    first = store.add_order({"status": "pending"})
    second = store.add_order({"status": "pending", "date_created": "2026-11-19T21:00:00"})

    assert (first["id"], first["number"]) == (1001, "1001")
    assert second["id"] == 1002
    assert first["date_created_gmt"] == first["date_modified_gmt"] == "2026-11-20T12:00:00"
    assert first["date_created"] == "2026-11-20T09:00:00"
    assert second["date_created_gmt"] == "2026-11-20T00:00:00"
    assert first["date_paid"] is None and first["date_paid_gmt"] is None


def test_update_order_moves_modified_and_stamps_paid(store: WooCommerceSandbox, api: API, clock: Any,
                                                     now: datetime, order_at: Any) -> None:
    order_id = store.add_order(order_at(now - timedelta(hours=1), status="pending"))["id"]
    paid_at = clock.advance(90)

    updated = store.update_order(order_id, status="processing")

    assert updated["date_modified_gmt"] == updated["date_paid_gmt"] == paid_at.strftime("%Y-%m-%dT%H:%M:%S")
    assert updated["date_paid"] == (paid_at - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S")
    since = (paid_at - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert ids(api.get("orders", params={"modified_after": since, "dates_are_gmt": "true"})) == [order_id]
    completed = store.update_order(order_id, status="completed")
    assert completed["date_paid_gmt"] == updated["date_paid_gmt"]
    assert completed["date_completed_gmt"] == completed["date_modified_gmt"]


# -- faults --------------------------------------------------------------------------------

def test_status_fault_uses_woocommerce_error_shape(store: WooCommerceSandbox, api: API) -> None:
    store.faults.add("status", times=2, status=503, retry_after=7)

    responses = [api.get("orders") for _ in range(3)]

    assert [r.status_code for r in responses] == [503, 503, 200]
    assert responses[0].headers["Retry-After"] == "7"
    assert responses[0].json() == {"code": "internal_server_error", "message": "Service Unavailable",
                                   "data": {"status": 503}}


def test_429_fault(store: WooCommerceSandbox, api: API) -> None:
    store.faults.add("429")

    response = api.get("orders")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json()["data"] == {"status": 429}
    assert api.get("orders").status_code == 200


def test_slow_fault(store: WooCommerceSandbox, api: API) -> None:
    store.faults.add("slow", delay=0.4)

    started = time.monotonic()
    response = api.get("orders")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.4


def test_drop_fault_closes_without_response(store: WooCommerceSandbox, api: API) -> None:
    store.faults.add("drop")

    with pytest.raises(requests.ConnectionError):
        api.get("orders")
    assert api.get("orders").status_code == 200
    assert len(store.requests) == 2


def test_non_json_fault_is_an_html_page_with_200(store: WooCommerceSandbox) -> None:
    store.faults.add("non_json")

    with httpx.Client(base_url=store.url, auth=(store.consumer_key, store.consumer_secret)) as client:
        response = client.get("/wp-json/wc/v3/orders")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")


def test_fault_restricted_to_a_path(store: WooCommerceSandbox, api: API, now: datetime, order_at: Any) -> None:
    order_id = store.add_order(order_at(now))["id"]
    store.faults.add("status", status=500, path="/wp-json/wc/v3/orders/")

    assert api.get("orders").status_code == 200
    assert api.get(f"orders/{order_id}").status_code == 500
    assert api.get(f"orders/{order_id}").status_code == 200
    assert len(store.faults) == 0


def test_faults_clear_and_validation(store: WooCommerceSandbox, api: API) -> None:
    store.faults.add("status", times=5)
    store.faults.clear()

    assert api.get("orders").status_code == 200
    with pytest.raises(ValueError):
        store.faults.add("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.faults.add("status", status=200)


def test_concurrent_requests_are_all_recorded(store: WooCommerceSandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    url = f"{store.url}/wp-json/wc/v3/orders"
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda _: requests.get(url, auth=(store.consumer_key, store.consumer_secret),
                                                     timeout=10).status_code, range(16)))

    assert codes == [200] * 16
    assert len(store.requests) == 16
    store.reset_requests()
    assert store.requests == []


def test_oauth_is_signed_against_the_stores_own_address_not_the_host_used() -> None:
    """WC_REST_Authentication signs get_home_url() + path: a client that signs another host is refused."""
    with WooCommerceSandbox("ck_home", "cs_home") as store:
        other = store.url.replace("127.0.0.1", "localhost")
        refused = API(url=other, consumer_key="ck_home", consumer_secret="cs_home", version="wc/v3").get("orders")
        assert refused.status_code == 401
        assert refused.json()["code"] == "woocommerce_rest_authentication_error"
        assert refused.json()["message"] == "Invalid signature - provided signature does not match."
        assert API(url=store.url, consumer_key="ck_home", consumer_secret="cs_home", version="wc/v3").get(
            "orders").status_code == 200
    with WooCommerceSandbox("ck_home", "cs_home", home_url="http://localhost:1") as moved:
        assert requests.get(f"{moved.url}/wp-json/", timeout=5).json()["home"] == "http://localhost:1"
