"""A simulated SoPost (shared/api-docs/sopost-crm-integration-guide.txt) and the sender of its webhooks.

- ``GET /orders/{id}`` (HTTP Basic key:secret): the order as the guide shows it; 404 for an unknown id.
- ``POST /webhooks``: ``{"url", "events": ["OrderEvent"], "entity_type": "Organisation"|"Campaign",
  "entity_id"}`` → 201 with the webhook's ``id``.
- `send`: posts an ``OrderEvent`` (``event_id``, ``event``, ``order_id``, ``activity_id``) to every registered
  webhook (or a given URL) and returns the answers' status codes; the scenarios the tests and the demo
  use (duplicates, out of order, PENDING then APPROVED, REJECTED, an order that 404s) are built from it.
"""

from __future__ import annotations

import base64
import hmac
import json
import threading
import urllib.error
import urllib.request
import uuid
from typing import Any

from connector.sandbox.server import RecordedRequest, Response, SandboxServer

SOPOST_KEY, SOPOST_SECRET = "sopost_sandbox_key", "sopost_sandbox_secret"
ORGANISATION = "f3a10b3a-a02f-4568-b1ca-ea6571620f91"
CONSENT_ID = "d2271011-4d8a-47e7-9d4a-5045780fbce9"
STATUSES = ("PENDING", "APPROVED", "REJECTED", "DISPATCHED")

_FIRST = ("Joe", "Amira", "Lena", "Tom", "Priya", "Sven", "Chloé", "Mateo")
_LAST = ("Bloggs", "Haddad", "Fischer", "O'Neill", "Patel", "Lindqvist", "Martin", "García")
_PLACES = (("Newcastle Upon Tyne", "Tyne & Wear", "GBR", "NE4 5TF", "+441914980123"),
           ("Stockholm", "Stockholm", "SWE", "111 22", "+46812345678"),
           ("Berlin", "Berlin", "DEU", "10115", "+4930123456"),
           ("Austin", "Texas", "USA", "78701", "+15125550100"))


def sample_sopost_order(n: int, *, status: str = "APPROVED", consent: bool = True) -> dict[str, Any]:
    """The n-th deterministic SoPost order, shaped like the guide's example."""
    town, district, territory, postcode, phone = _PLACES[n % len(_PLACES)]
    first, last = _FIRST[n % len(_FIRST)], _LAST[(n // 2) % len(_LAST)]
    order_id = str(uuid.UUID(int=0x5050_0000_0000_4000_8000_0000_0000_0000 + n))
    return {
        "id": order_id,
        "short_id": f"{9000 + n}ABCDEFG",
        "activity_id": "932c6eba-6fc5-4e41-9ea9-5fd2fe950b25",
        "address": {"line_1": f"{n + 1} High Street", "line_2": "", "town": town, "district": district,
                    "territory": territory, "postcode": postcode},
        "full_name": f"{first} {last}",
        "email": f"{first.lower().replace('é', 'e')}.{last.lower().replace(chr(39), '')}.{n}@example.com",
        "provider": "sandbox",
        "identity": str(uuid.UUID(int=0x1D00_0000_0000_4000_8000_0000_0000_0000 + n)),
        "telephone": phone,
        "line_items": [{"stock_partition_id": ORGANISATION}],
        "status": status,
        "consents": [{"consent_id": CONSENT_ID, "consent_name": "SoPost Marketing Optin", "data_handler": "SoPost",
                      "status": "APPROVED"}] if consent else [],
        "custom_questions": [{"question_text": "What is your biggest skincare concern?", "question_id": "skincare-concern-101",
                              "answer": [{"answer_text": "Signs of ageing", "answer_id": "ageing-423"}]}],
    }


class SoPostSandbox(SandboxServer):
    def __init__(self, api_key: str = SOPOST_KEY, api_secret: str = SOPOST_SECRET) -> None:
        super().__init__()
        self.api_key, self.api_secret = api_key, api_secret
        self.orders: dict[str, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.sent: list[tuple[dict[str, str], int]] = []  # every event posted, with the status it was answered
        self._lock = threading.Lock()

    # -- the store of orders ----------------------------------------------------------------
    def add_order(self, order: dict[str, Any]) -> str:
        with self._lock:
            self.orders[order["id"]] = dict(order)
        return str(order["id"])

    def set_status(self, order_id: str, status: str) -> None:
        with self._lock:
            self.orders[order_id]["status"] = status

    def fetches(self, order_id: str) -> int:
        """How many times ``GET /orders/{order_id}`` was asked."""
        return sum(1 for r in self.requests if r.method == "GET" and r.path == f"/orders/{order_id}")

    # -- the sender of webhooks -------------------------------------------------------------
    def event(self, order_id: str, event: str | None = None, event_id: str | None = None) -> dict[str, str]:
        order = self.orders.get(order_id, {})
        return {"event_id": event_id or uuid.uuid4().hex + uuid.uuid4().hex[:8],
                "event": event or str(order.get("status", "APPROVED")),
                "order_id": order_id, "activity_id": str(order.get("activity_id", "932c6eba-6fc5-4e41-9ea9-5fd2fe950b25"))}

    def send(self, event: dict[str, str], url: str | None = None, timeout: float = 10.0) -> list[int]:
        """Post `event` to `url`, or to every registered webhook; the answers' status codes."""
        with self._lock:
            targets = [url] if url else [hook["url"] for hook in self.webhooks.values()]
        codes = []
        for target in targets:
            request = urllib.request.Request(target, data=json.dumps(event).encode(), method="POST",
                                             headers={"Content-Type": "application/json", "User-Agent": "SoPost-Webhooks"})
            try:
                with urllib.request.urlopen(request, timeout=timeout) as answer:
                    code = answer.status
            except urllib.error.HTTPError as exc:
                code = exc.code
            with self._lock:
                self.sent.append((event, code))
            codes.append(code)
        return codes

    # -- HTTP --------------------------------------------------------------------------------
    def error_response(self, status: int, headers: list[tuple[str, str]] | None = None) -> Response:
        return Response.json(status, {"error": {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}.get(
            status, "Error"), "status": status}, headers)

    def _authorized(self, request: RecordedRequest) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.api_key}:{self.api_secret}".encode()).decode()
        return hmac.compare_digest((request.header("authorization") or "").encode(), expected.encode())

    def handle(self, request: RecordedRequest) -> Response:
        if not self._authorized(request):
            return self.error_response(401)
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and len(parts) == 2 and parts[0] == "orders":
            with self._lock:
                order = self.orders.get(parts[1])
                body = json.loads(json.dumps(order)) if order is not None else None
            return self.error_response(404) if body is None else Response.json(200, body)
        if request.method == "POST" and parts == ["webhooks"]:
            return self._create_webhook(request)
        return self.error_response(404)

    def _create_webhook(self, request: RecordedRequest) -> Response:
        try:
            body = request.json()
        except ValueError:
            return Response.json(400, {"error": "Bad Request", "message": "body is not JSON"})
        if (not isinstance(body, dict) or not isinstance(body.get("url"), str) or body.get("events") != ["OrderEvent"]
                or body.get("entity_type") not in ("Organisation", "Campaign") or not isinstance(body.get("entity_id"), str)):
            return Response.json(400, {"error": "Bad Request",
                                       "message": "url, events [OrderEvent], entity_type and entity_id are required"})
        hook = {"id": str(uuid.uuid4()), **{k: body[k] for k in ("url", "events", "entity_type", "entity_id")}}
        with self._lock:
            self.webhooks[hook["id"]] = hook
        return Response.json(201, hook)
