"""A simulated sonarID: ``POST /api/v1/orders`` as `shared/api-docs/sonarid-orders-api.txt` describes it."""

from __future__ import annotations

import hmac
import json
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

from connector.sandbox.server import RecordedRequest, Response, SandboxServer

ORDERS_PATH = "/api/v1/orders"
REQUIRED_FIELDS = ("email", "firstName", "lastName")
DISPOSABLE_DOMAINS = frozenset({"mailinator.com", "guerrillamail.com", "10minutemail.com"})
_STRING_FIELDS = {
    "": ("email", "firstName", "lastName", "phone"),
    "address": ("city", "state", "zipcode", "country"),
    "order": ("id", "number", "total", "currency"),
}
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
_EMAIL = re.compile(r"^[^@\s]+@([^@\s]+\.[^@\s.]+)$")

EnrichmentState = Literal["queued", "failed", "enriched"]


class _BadRequest(Exception):
    pass


@dataclass
class SonarCustomer:
    """A customer record, one per email (compared case-insensitively)."""

    customer_id: str
    email: str
    first_name: str
    last_name: str
    enrichment: EnrichmentState = "queued"
    order_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SonarOrder:
    """An order record; ``platform_order_id`` is the submitted ``order.id`` (None when absent)."""

    order_id: str
    customer_id: str
    platform_order_id: str | None
    body: dict[str, Any]


def _error(status: int, error: str, message: str) -> Response:
    return Response.json(status, {"error": error, "message": message})


def _bad_request(message: str) -> Response:
    return _error(400, "Bad Request", message)


def _validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise _BadRequest("Request body must be a JSON object")
    missing = [name for name in REQUIRED_FIELDS
               if body.get(name) is None or (isinstance(body[name], str) and not body[name].strip())]
    if missing:
        raise _BadRequest(f"Missing required fields: {', '.join(missing)}")
    for section, names in _STRING_FIELDS.items():
        container = body if not section else body.get(section)
        if section and container is None:
            continue
        if not isinstance(container, dict):
            raise _BadRequest(f"Invalid field type: {section} must be an object")
        for name in names:
            value = container.get(name)
            if value is not None and not isinstance(value, str):
                dotted = f"{section}.{name}" if section else name
                raise _BadRequest(f"Invalid field type: {dotted} must be a string")
    email = body["email"].strip()
    match = _EMAIL.match(email)
    if not match or match.group(1).lower() in DISPOSABLE_DOMAINS:
        raise _BadRequest("Invalid or disposable email")
    order = body.get("order")
    if isinstance(order, dict) and order.get("total") is not None and not _DECIMAL.match(order["total"]):
        raise _BadRequest('Invalid field: order.total must be a decimal string (e.g. "150.00")')


class SonarIDSandbox(SandboxServer):
    """sonarID on 127.0.0.1. Inspect ``orders`` (order.id → first body), ``submissions``, ``customers``."""

    def __init__(self, api_key: str = "sk_test_sandbox") -> None:
        super().__init__()
        self.api_key = api_key
        self.orders: dict[str, dict[str, Any]] = {}
        self.order_records: list[SonarOrder] = []
        self.submissions: list[dict[str, Any]] = []
        self.customers: dict[str, SonarCustomer] = {}
        self._order_ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def submissions_for(self, order_id: str | int) -> int:
        """How many accepted submissions carried ``order.id == order_id``."""
        wanted = str(order_id)
        with self._lock:
            return sum(1 for body in self.submissions
                       if isinstance(body.get("order"), dict) and body["order"].get("id") == wanted)

    def customer(self, email: str) -> SonarCustomer | None:
        with self._lock:
            return self.customers.get(email.strip().lower())

    def fail_enrichment(self, email: str) -> None:
        """Mark a known customer's enrichment as failed: their next order answers ``"retry"``."""
        with self._lock:
            self.customers[email.strip().lower()].enrichment = "failed"

    # -- HTTP ------------------------------------------------------------------------------
    def error_response(self, status: int, headers: list[tuple[str, str]] | None = None) -> Response:
        phrase = HTTPStatus(status).phrase
        message = {500: "Failed to process order", 429: "Rate limit exceeded"}.get(status, phrase)
        return Response.json(status, {"error": phrase, "message": message}, headers)

    def handle(self, request: RecordedRequest) -> Response:
        if request.path.rstrip("/") != ORDERS_PATH:
            return _error(404, "Not Found", f"No route for {request.method} {request.path}")
        if request.method != "POST":
            response = _error(405, "Method Not Allowed", f"{request.method} is not allowed on {ORDERS_PATH}")
            response.headers.append(("Allow", "POST"))
            return response
        if not self._authorized(request.headers):
            return _error(401, "Unauthorized", "Invalid or missing API key")
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _bad_request("Invalid JSON body")
        try:
            _validate(body)
        except _BadRequest as exc:
            return _bad_request(str(exc))
        return Response.json(200, self._accept(body))

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        candidates = [headers.get("x-api-key", "").strip()]
        if scheme.lower() == "bearer":
            candidates.append(token.strip())
        expected = self.api_key.encode()
        return any(hmac.compare_digest(candidate.encode(), expected) for candidate in candidates if candidate)

    def _accept(self, body: dict[str, Any]) -> dict[str, Any]:
        email = body["email"].strip().lower()
        with self._lock:
            self.submissions.append(body)
            customer = self.customers.get(email)
            if customer is None:
                customer = SonarCustomer(str(uuid.uuid4()), email, body["firstName"], body["lastName"])
                self.customers[email] = customer
                enrichment = "queued"
            elif customer.enrichment == "failed":
                customer.enrichment = "queued"
                enrichment = "retry"
            else:
                enrichment = "existing"
            result: dict[str, Any] = {"success": True, "customerId": customer.customer_id}
            order = body.get("order")
            if isinstance(order, dict):
                result["orderId"] = self._record_order(order, body, customer)
            result["enrichmentStatus"] = enrichment
            return result

    def _record_order(self, order: dict[str, Any], body: dict[str, Any], customer: SonarCustomer) -> str:
        platform_id = order.get("id") or None
        if platform_id is not None and platform_id in self._order_ids:
            return self._order_ids[platform_id]
        record = SonarOrder(str(uuid.uuid4()), customer.customer_id, platform_id, body)
        self.order_records.append(record)
        customer.order_ids.append(record.order_id)
        if platform_id is not None:
            self._order_ids[platform_id] = record.order_id
            self.orders[platform_id] = body
        return record.order_id
