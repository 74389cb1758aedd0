"""The Sophio sandbox follows `shared/api-docs/sophio-createorder-api.txt`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.sandbox import SophioSandbox

DOCS_REQUEST = Path(__file__).resolve().parents[1] / "examples" / "sophio_docs_request.json"
DOCS_AUTH = "c29waGlvOm9yZGVycw=="  # the document's own example: base64("sophio:orders")


@pytest.fixture
def sophio() -> Iterator[SophioSandbox]:
    with SophioSandbox("sophio", "orders") as sandbox:
        yield sandbox
    assert sandbox.errors == []


def body(**changes: Any) -> dict[str, Any]:
    return json.loads(DOCS_REQUEST.read_text()) | changes


def post(sophio: SophioSandbox, payload: Any, query: str = f"action=CREATE&authentication={DOCS_AUTH}",
         path: str = "/createorder.wws") -> httpx.Response:
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return httpx.post(f"{sophio.url}{path}?{query}", content=content, timeout=10)


def test_the_docs_example_is_created_and_echoed_with_an_order_id(sophio: SophioSandbox) -> None:
    response = post(sophio, body())
    assert response.status_code == 200
    answer = response.json()
    assert answer["orderId"] == 123456
    assert answer["orderKey"] == "322759-106515" and answer["orderNumber"] == "296594"
    assert answer["items"][0]["sku"] == "VIC-OS32372" and "orderItemId" in answer["items"][0]
    assert sophio.orders["322759-106515"].body["amountPaid"] == Decimal("66.63")  # read exactly


@pytest.mark.parametrize("query", ["action=CREATE", "action=CREATE&authentication=c29waGlvOndyb25n",
                                   "action=CREATE&authentication=not-base64!"])
def test_authentication_is_base64_key_colon_secret(sophio: SophioSandbox, query: str) -> None:
    response = post(sophio, body(), query=query)
    assert response.status_code == 401
    assert response.json()["status"] == "error"
    assert response.json()["message"].startswith("Invalid authentication")
    assert sophio.submissions == []


def test_a_base64_with_plus_must_arrive_escaped(sophio: SophioSandbox) -> None:
    with SophioSandbox("ab>>?", "x") as plus:
        assert base64.b64encode(b"ab>>?:x").decode() == "YWI+Pj86eA=="
        assert post(plus, body(), query="action=CREATE&authentication=YWI%2BPj86eA==").status_code == 200
        assert post(plus, body(), query="action=CREATE&authentication=YWI+Pj86eA==").status_code == 401
    assert plus.errors == []


def test_the_action_must_be_create(sophio: SophioSandbox) -> None:
    response = post(sophio, body(), query=f"action=DELETE&authentication={DOCS_AUTH}")
    assert response.status_code == 400 and "action=CREATE" in response.json()["message"]


def test_a_repeated_order_key_creates_no_second_order(sophio: SophioSandbox) -> None:
    first = post(sophio, body()).json()
    again = post(sophio, body(amountPaid=1)).json()
    other = post(sophio, body(orderKey="322759-106516")).json()
    assert again["orderId"] == first["orderId"] == 123456
    assert other["orderId"] == 123457
    assert sophio.submissions_for("322759-106515") == 2
    assert list(sophio.orders) == ["322759-106515", "322759-106516"]


@pytest.mark.parametrize(("changes", "message"), [
    ({"orderKey": ""}, "orderKey is required"),
    ({"items": []}, "items is required"),
    ({"customerId": "225846"}, "customerId must be an integer"),
    ({"amountPaid": "66.63"}, "amountPaid must be a number"),
    ({"shipTo": {"name": "A", "street1": "B", "city": "C"}}, "shipTo.country is required"),
    ({"billTo": {"residential": "yes"}}, "billTo.residential must be true or false"),
    ({"items": [{"sku": "A", "name": "B", "quantity": 1.5}]}, "items[0].quantity must be an integer"),
    ({"items": [{"sku": "A", "quantity": 1}]}, "items[0].name is required"),
    ({"items": [{"sku": "", "name": "B", "quantity": 1}]}, "items[0].sku must not be empty"),
    ({"items": [{"name": "B", "quantity": 1, "fulfillmentSku": None}]}, "items[0].fulfillmentSku must not be empty"),
    ({"billTo": {"name": "A", "country": ""}}, "billTo.country must be a two-letter country code"),
    ({"shipTo": {"name": "A", "street1": "B", "city": "C", "country": "United States"}},
     "shipTo.country must be a two-letter country code"),
    ({"items": [{"sku": "A", "name": "B", "quantity": 1, "weight": {"value": 1, "units": "grams"}}]},
     "items[0].weight must be"),
    ({"items": [{"sku": "A", "name": "B", "quantity": 1, "options": [{"name": "size"}]}]},
     "items[0].options must be"),
])
def test_validation(sophio: SophioSandbox, changes: dict[str, Any], message: str) -> None:
    response = post(sophio, body(**changes))
    assert response.status_code == 400
    assert response.json() == {"status": "error", "message": response.json()["message"]}
    assert response.json()["message"].startswith(message)
    assert sophio.submissions == []


def test_an_item_without_sku_is_accepted(sophio: SophioSandbox) -> None:
    item = {"lineItemKey": "7", "name": "Gasket", "quantity": 1, "unitPrice": 7.46}
    response = post(sophio, body(items=[item], billTo={"name": "Steve Smith", "street1": "185 Exchange Blvd"}))
    assert response.status_code == 200, response.text
    assert response.json()["items"][0]["name"] == "Gasket" and "sku" not in response.json()["items"][0]


def test_faults_answer_in_the_vendors_error_shape(sophio: SophioSandbox) -> None:
    sophio.faults.add("status", status=500)
    assert post(sophio, body()).json() == {"status": "error", "message": "An error occurred processing the order"}
    assert post(sophio, body()).status_code == 200
