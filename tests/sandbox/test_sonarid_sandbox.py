"""The sonarID sandbox follows `shared/api-docs/sonarid-orders-api.txt`."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from connector.sandbox import SonarIDSandbox
from tests.waiting import wait_for

KEY = "sk_test_sandbox"


def body(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "email": "jane@example.com",
        "firstName": "Jane",
        "lastName": "Smith",
        "phone": "+15551234567",
        "address": {"city": "Atherton", "state": "CA", "zipcode": "94027", "country": "US"},
        "order": {"id": "wc_1042", "number": "1042", "total": "150.00", "currency": "USD"},
    }
    payload.update(overrides)
    return payload


def post(sonar: SonarIDSandbox, payload: Any, headers: dict[str, str] | None = None,
         timeout: float = 10) -> httpx.Response:
    headers = {"Authorization": f"Bearer {KEY}"} if headers is None else headers
    return httpx.post(f"{sonar.url}/api/v1/orders", json=payload, headers=headers, timeout=timeout)


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {KEY}"}, {"x-api-key": KEY}])
def test_accepts_both_auth_headers(sonar: SonarIDSandbox, headers: dict[str, str]) -> None:
    response = post(sonar, body(), headers)

    assert response.status_code == 200
    answer = response.json()
    assert answer["success"] is True and answer["enrichmentStatus"] == "queued"
    uuid.UUID(answer["customerId"])
    uuid.UUID(answer["orderId"])


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk_live_wrong"}, {"x-api-key": "nope"},
                                     {"Authorization": KEY}])
def test_rejects_missing_or_wrong_key(sonar: SonarIDSandbox, headers: dict[str, str]) -> None:
    response = post(sonar, body(), headers)

    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "message": "Invalid or missing API key"}
    assert sonar.submissions == []


def test_order_id_deduplicates(sonar: SonarIDSandbox) -> None:
    first = post(sonar, body()).json()
    again = post(sonar, body()).json()
    other = post(sonar, body(order={"id": "wc_1043", "total": "20.00"})).json()

    assert again["orderId"] == first["orderId"]
    assert other["orderId"] != first["orderId"]
    assert sonar.submissions_for("wc_1042") == 2
    assert len(sonar.submissions) == 3
    assert list(sonar.orders) == ["wc_1042", "wc_1043"]
    assert len(sonar.order_records) == 2


def test_customers_deduplicate_by_email(sonar: SonarIDSandbox) -> None:
    first = post(sonar, body()).json()
    repeat = post(sonar, body(email="  JANE@Example.com ", order={"id": "wc_2000"})).json()
    someone_else = post(sonar, body(email="john@example.com", order={"id": "wc_2001"})).json()

    assert repeat["customerId"] == first["customerId"]
    assert repeat["enrichmentStatus"] == "existing"
    assert someone_else["customerId"] != first["customerId"]
    assert someone_else["enrichmentStatus"] == "queued"
    assert len(sonar.customers) == 2
    customer = sonar.customer("jane@example.com")
    assert customer is not None and len(customer.order_ids) == 2


def test_failed_enrichment_is_retried(sonar: SonarIDSandbox) -> None:
    post(sonar, body())
    sonar.fail_enrichment("jane@example.com")

    assert post(sonar, body(order={"id": "wc_2"})).json()["enrichmentStatus"] == "retry"
    assert post(sonar, body(order={"id": "wc_3"})).json()["enrichmentStatus"] == "existing"


def test_order_is_optional(sonar: SonarIDSandbox) -> None:
    payload = body()
    del payload["order"]

    answer = post(sonar, payload).json()

    assert answer["success"] is True and "orderId" not in answer


@pytest.mark.parametrize(("overrides", "message"), [
    ({"email": None, "firstName": None, "lastName": None}, "Missing required fields: email, firstName, lastName"),
    ({"email": ""}, "Missing required fields: email"),
    ({"firstName": "  ", "lastName": ""}, "Missing required fields: firstName, lastName"),
    ({"email": "jane.example.com"}, "Invalid or disposable email"),
    ({"email": "jane@localhost"}, "Invalid or disposable email"),
    ({"email": "jane@mailinator.com"}, "Invalid or disposable email"),
    ({"email": "x@GuerrillaMail.com"}, "Invalid or disposable email"),
    ({"email": "x@10minutemail.com"}, "Invalid or disposable email"),
    ({"firstName": 7}, "Invalid field type: firstName must be a string"),
    ({"phone": 15551234567}, "Invalid field type: phone must be a string"),
    ({"address": "Atherton"}, "Invalid field type: address must be an object"),
    ({"address": {"zipcode": 94027}}, "Invalid field type: address.zipcode must be a string"),
    ({"order": {"id": 1042}}, "Invalid field type: order.id must be a string"),
    ({"order": {"id": "wc_1", "total": 150.0}}, "Invalid field type: order.total must be a string"),
    ({"order": {"id": "wc_1", "total": "12,34O"}},
     'Invalid field: order.total must be a decimal string (e.g. "150.00")'),
])
def test_validation_messages(sonar: SonarIDSandbox, overrides: dict[str, Any], message: str) -> None:
    payload = body()
    for key, value in overrides.items():
        if value is None:
            del payload[key]
        else:
            payload[key] = value

    response = post(sonar, payload)

    assert response.status_code == 400
    assert response.json() == {"error": "Bad Request", "message": message}
    assert sonar.submissions == []


def test_body_must_be_json(sonar: SonarIDSandbox) -> None:
    response = httpx.post(f"{sonar.url}/api/v1/orders", content=b"email=jane@example.com",
                          headers={"x-api-key": KEY, "Content-Type": "application/x-www-form-urlencoded"})

    assert response.status_code == 400
    assert response.json()["error"] == "Bad Request"


def test_unknown_route_and_method(sonar: SonarIDSandbox) -> None:
    assert httpx.get(f"{sonar.url}/api/v1/orders", headers={"x-api-key": KEY}).status_code == 405
    assert httpx.post(f"{sonar.url}/api/v2/orders", json=body(), headers={"x-api-key": KEY}).status_code == 404


# -- faults --------------------------------------------------------------------------------

def test_500_fault_is_documented_body_and_not_processed(sonar: SonarIDSandbox) -> None:
    sonar.faults.add("status")

    failed = post(sonar, body())
    retried = post(sonar, body())

    assert failed.status_code == 500
    assert failed.json() == {"error": "Internal Server Error", "message": "Failed to process order"}
    assert retried.status_code == 200
    assert sonar.submissions_for("wc_1042") == 1


def test_429_fault_has_retry_after(sonar: SonarIDSandbox) -> None:
    sonar.faults.add("429", retry_after=3)

    response = post(sonar, body())

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json()["error"] == "Too Many Requests"


def test_drop_fault_processes_nothing(sonar: SonarIDSandbox) -> None:
    sonar.faults.add("drop")

    with pytest.raises(httpx.RemoteProtocolError):
        post(sonar, body())
    assert sonar.submissions == []
    assert len(sonar.requests) == 1


def test_lost_response_then_retry_is_deduplicated(sonar: SonarIDSandbox) -> None:
    sonar.faults.add("drop_after")

    with pytest.raises(httpx.RemoteProtocolError):
        post(sonar, body())
    retried = post(sonar, body())

    assert retried.status_code == 200
    assert sonar.submissions_for("wc_1042") == 2
    assert len(sonar.order_records) == 1
    assert retried.json()["orderId"] == sonar.order_records[0].order_id


def test_slow_fault_still_processes_after_a_client_timeout(sonar: SonarIDSandbox) -> None:
    sonar.faults.add("slow", delay=0.5)

    with pytest.raises(httpx.ReadTimeout):
        post(sonar, body(), timeout=0.1)
    wait_for(lambda: sonar.submissions, "the slow request to be processed")

    assert sonar.submissions_for("wc_1042") == 1


def test_open_requests_are_those_received_and_not_answered_yet_with_the_client_port(sonar: SonarIDSandbox) -> None:
    sonar.faults.add("slow", delay=0.5)
    before = time.monotonic()
    with httpx.Client(timeout=10) as client, ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(client.post, f"{sonar.url}/api/v1/orders", json=body(),
                             headers={"Authorization": f"Bearer {KEY}"})
        [waiting] = wait_for(lambda: sonar.open_requests, "the slow request to be received")
        assert waiting.json()["order"]["id"] == "wc_1042" and sonar.submissions == []  # received, not handled yet
        assert waiting.client is not None and waiting.client[0] == "127.0.0.1"
        during = time.monotonic()
        assert answer.result().status_code == 200
        assert sonar.open_requests == []
        assert sonar.in_flight_at(before) == [] and sonar.in_flight_at(during) == [waiting]
        assert sonar.in_flight_at(time.monotonic()) == []
        client.post(f"{sonar.url}/api/v1/orders", json=body(), headers={"Authorization": f"Bearer {KEY}"})
    first, second = sonar.requests
    assert first.client == second.client  # the same kept-alive connection: the same client port


def test_concurrent_duplicates_create_one_order(sonar: SonarIDSandbox) -> None:
    start = threading.Barrier(8)

    def submit(_: int) -> str:
        start.wait()
        return str(post(sonar, body()).json()["orderId"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        order_ids = set(pool.map(submit, range(8)))

    assert len(order_ids) == 1
    assert len(sonar.order_records) == 1
    assert sonar.submissions_for("wc_1042") == 8
