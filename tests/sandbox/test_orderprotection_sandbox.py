"""The OrderProtection sandbox follows `shared/api-docs/orderprotection-orders-api.txt`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.sandbox import OrderProtectionSandbox

TOKEN = "op_test_sandbox"
DOCS_REQUEST = Path(__file__).resolve().parents[1] / "examples" / "orderprotection_docs_request.json"


@pytest.fixture
def op() -> Iterator[OrderProtectionSandbox]:
    with OrderProtectionSandbox(TOKEN) as sandbox:
        yield sandbox
    assert sandbox.errors == []


def body(**changes: Any) -> dict[str, Any]:
    return json.loads(DOCS_REQUEST.read_text()) | changes


def post(op: OrderProtectionSandbox, payload: Any, token: str | None = TOKEN,
         path: str = "/v1/orders") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return httpx.post(f"{op.url}{path}", content=content, headers={**headers, "Content-Type": "application/json"},
                      timeout=10)


def test_the_docs_example_is_created(op: OrderProtectionSandbox) -> None:
    response = post(op, body())
    assert response.status_code == 201
    assert response.json() == {"status": "ok"}
    assert list(op.orders) == ["#517AB"]
    assert op.orders["#517AB"].body["total"] == Decimal("15.4")  # read exactly


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_bearer_auth(op: OrderProtectionSandbox, token: str | None) -> None:
    response = post(op, body(), token=token)
    assert response.status_code == 401
    assert response.json() == {"statusCode": 401, "error": "Unauthorized", "message": "Unauthorized"}
    assert op.submissions == []


def test_a_repeated_source_order_id_creates_no_second_order(op: OrderProtectionSandbox) -> None:
    assert post(op, body()).status_code == 201
    assert post(op, body(total=16)).status_code == 201
    assert post(op, body(sourceOrderId="#517AC")).status_code == 201
    assert op.submissions_for("#517AB") == 2
    assert list(op.orders) == ["#517AB", "#517AC"]
    assert op.orders["#517AB"].body["total"] == Decimal("15.4")  # the first one is kept


@pytest.mark.parametrize("field", ["sourceOrderId", "sourceCreatedAt", "platformId", "currency", "total", "subtotal",
                                   "orderItems", "address"])
def test_required_fields(op: OrderProtectionSandbox, field: str) -> None:
    payload = body()
    del payload[field]
    response = post(op, payload)
    assert response.status_code == 400
    assert response.json()["message"] == f"{field} should not be empty"
    assert op.submissions == []


@pytest.mark.parametrize(("changes", "message"), [
    ({"currency": "XYZ"}, "currency must be one of the documented currency codes"),
    ({"currency": "usd"}, "currency must be one of the documented currency codes"),
    ({"platformId": "shopware"}, "platformId must be one of the following values"),
    ({"total": "15.40"}, "total must be a number"),
    ({"premiumPaid": True}, "premiumPaid must be a number"),
    ({"sourceOrderId": 517}, "sourceOrderId must be a string"),
    ({"sourceCreatedAt": "15/05/2000"}, "sourceCreatedAt must be a valid ISO 8601 date string"),
    ({"orderItems": [{"productName": "x", "price": "45.43"}]}, "orderItems.0.price must be a number"),
    ({"orderItems": {"productName": "x"}}, "orderItems must be an array"),
    ({"address": {"zip": 8731}}, "address.zip must be a string"),
])
def test_types_and_enums(op: OrderProtectionSandbox, changes: dict[str, Any], message: str) -> None:
    response = post(op, body(**changes))
    assert response.status_code == 400
    assert response.json()["error"] == "Bad Request"
    assert response.json()["message"].startswith(message)


def test_not_json_and_unknown_routes(op: OrderProtectionSandbox) -> None:
    assert post(op, b"{nope").status_code == 400
    assert post(op, body(), path="/v2/orders").json() == {"statusCode": 404, "error": "Not Found",
                                                          "message": "Cannot POST /v2/orders"}


def test_faults_answer_in_the_vendors_error_shape(op: OrderProtectionSandbox) -> None:
    op.faults.add("status", status=503, retry_after=2)
    first = post(op, body())
    assert first.status_code == 503 and first.headers["Retry-After"] == "2"
    assert first.json()["statusCode"] == 503
    assert post(op, body()).status_code == 201
