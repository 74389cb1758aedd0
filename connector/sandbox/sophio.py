"""A simulated Sophio store: ``POST /createorder.wws?action=CREATE&authentication=…`` as
`shared/api-docs/sophio-createorder-api.txt` describes it.

Documented: the endpoint and ``action=CREATE``; ``authentication`` is base64("key:secret"), decoded
before the order is accepted; the request's fields and (from its sample) their types; the answer
echoes the order with Sophio's ``orderId``. Not documented, so assumed here: which fields are
required (the same reading as `connector.destinations.sophio`: an item needs a name and a quantity, not a
SKU, since Sophio's own answer shows an item with ``productId: null``), that codes are codes (an
address's ``country`` is two letters as in the sample, ``"US"``; a ``sku`` or ``fulfillmentSku``, when
given, is not empty), the status codes (200 created, 400 invalid, 401 bad authentication), the error
body ``{"status": "error", "message": …}``, and that a
repeated ``orderKey`` creates no second order (the first one is echoed again). Like many servers, its
authentication error repeats the query string it was sent, so the connector must redact what it keeps.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from connector.sandbox.server import RecordedRequest, Response, SandboxServer

ORDER_PATH = "/createorder.wws"
FIRST_ORDER_ID = 123456
WEIGHT_UNITS = ("pounds", "ounces")
STRINGS = ("orderNumber", "orderKey", "orderDate", "paymentDate", "shipByDate", "orderStatus", "customerUsername",
           "customerEmail", "customerNotes", "paymentMethod", "requestedShippingService", "carrierCode", "serviceCode",
           "packageCode", "confirmation", "shipDate")
NUMBERS = ("amountPaid", "taxAmount", "shippingAmount")
ADDRESS_STRINGS = ("name", "company", "street1", "street2", "street3", "city", "state", "postalCode", "country",
                   "phone")
ITEM_STRINGS = ("lineItemKey", "sku", "name", "imageUrl", "warehouseLocation", "fulfillmentSku", "upc")
ITEM_NUMBERS = ("unitPrice", "taxAmount", "shippingAmount")
REQUIRED = ("orderNumber", "orderKey", "orderDate", "orderStatus", "shipTo", "items")
SHIP_TO_REQUIRED = ("name", "street1", "city", "country")
ITEM_REQUIRED = ("name", "quantity")
ITEM_CODES = ("sku", "fulfillmentSku")


class _BadRequest(Exception):
    pass


@dataclass(frozen=True)
class SophioOrder:
    """An order the store holds: its orderId and the first accepted body for its orderKey."""

    order_id: int
    order_key: str
    body: dict[str, Any]
    answer: dict[str, Any]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _blank(value: Any) -> bool:
    return value is None or value in ("", [], {})


def _types(container: dict[str, Any], strings: tuple[str, ...], numbers: tuple[str, ...], where: str) -> None:
    for name in strings:
        if container.get(name) is not None and not isinstance(container[name], str):
            raise _BadRequest(f"{where}{name} must be a string")
    for name in numbers:
        if container.get(name) is not None and not _is_number(container[name]):
            raise _BadRequest(f"{where}{name} must be a number")


def _weight(value: Any, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or not _is_number(value.get("value")) or value.get("units") not in WEIGHT_UNITS:
        raise _BadRequest(f"{where}weight must be {{value: number, units: {' or '.join(WEIGHT_UNITS)}}}")


def _address(value: Any, where: str, required: tuple[str, ...]) -> None:
    if not isinstance(value, dict):
        raise _BadRequest(f"{where} must be an object")
    _types(value, ADDRESS_STRINGS, (), f"{where}.")
    missing = [name for name in required if _blank(value.get(name))]
    if missing:
        raise _BadRequest(f"{where}.{missing[0]} is required")
    if value.get("residential") is not None and not isinstance(value["residential"], bool):
        raise _BadRequest(f"{where}.residential must be true or false")
    country = value.get("country")
    if country is not None and not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise _BadRequest(f"{where}.country must be a two-letter country code, not {country!r}")


def _item(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise _BadRequest(f"{where} must be an object")
    missing = [name for name in ITEM_REQUIRED if _blank(item.get(name))]
    if missing:
        raise _BadRequest(f"{where}.{missing[0]} is required")
    _types(item, ITEM_STRINGS, ITEM_NUMBERS, f"{where}.")
    empty = [name for name in ITEM_CODES if name in item and _blank(item[name])]
    if empty:
        raise _BadRequest(f"{where}.{empty[0]} must not be empty (leave it out when the item has none)")
    for name in ("quantity", "productId"):
        if item.get(name) is not None and not _is_integer(item[name]):
            raise _BadRequest(f"{where}.{name} must be an integer")
    if item.get("adjustment") is not None and not isinstance(item["adjustment"], bool):
        raise _BadRequest(f"{where}.adjustment must be true or false")
    _weight(item.get("weight"), f"{where}.")
    options = item.get("options")
    if options is not None and not (isinstance(options, list) and all(
            isinstance(o, dict) and isinstance(o.get("name"), str) and isinstance(o.get("value"), str)
            for o in options)):
        raise _BadRequest(f"{where}.options must be a list of {{name, value}} strings")


def _validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise _BadRequest("order must be a JSON object")
    missing = [name for name in REQUIRED if _blank(body.get(name))]
    if missing:
        raise _BadRequest(f"{missing[0]} is required")
    _types(body, STRINGS, NUMBERS, "")
    if body.get("customerId") is not None and not _is_integer(body["customerId"]):
        raise _BadRequest("customerId must be an integer")
    if body.get("billTo") is not None:
        _address(body["billTo"], "billTo", ())
    _address(body["shipTo"], "shipTo", SHIP_TO_REQUIRED)
    if not isinstance(body["items"], list):
        raise _BadRequest("items must be a list")
    for index, item in enumerate(body["items"]):
        _item(item, f"items[{index}]")
    _weight(body.get("weight"), "")
    if body.get("AdvancedOptions") is not None and not isinstance(body["AdvancedOptions"], dict):
        raise _BadRequest("AdvancedOptions must be an object")


def _error(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response.json(status, {"status": "error", "message": message}, headers)


def _jsonable(value: Any) -> Any:
    """The echo as JSON (the recorded bodies keep the exact decimals; the echo is only a confirmation)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return float(value) if isinstance(value, Decimal) else value


class SophioSandbox(SandboxServer):
    """A Sophio store on 127.0.0.1. Inspect ``orders`` (orderKey → SophioOrder) and ``submissions``."""

    def __init__(self, api_key: str = "sophio_sandbox", api_secret: str = "orders_sandbox") -> None:
        super().__init__()
        self.api_key, self.api_secret = api_key, api_secret
        self.orders: dict[str, SophioOrder] = {}
        self.submissions: list[dict[str, Any]] = []
        self.refusals: dict[str, tuple[int, str]] = {}
        self._ids = itertools.count(FIRST_ORDER_ID)
        self._lock = threading.Lock()

    def refuse(self, order_key: str, message: str, status: int = 400) -> None:
        """Answer ``status`` with ``message`` for this orderKey (a rule of the store's own: a SKU it cannot supply)."""
        self.refusals[order_key] = (status, message)

    def submissions_for(self, order_key: str) -> int:
        """How many accepted submissions carried ``orderKey == order_key``."""
        with self._lock:
            return sum(1 for body in self.submissions if body.get("orderKey") == order_key)

    def error_response(self, status: int, headers: list[tuple[str, str]] | None = None) -> Response:
        message = {500: "An error occurred processing the order", 503: "Service unavailable"}.get(
            status, HTTPStatus(status).phrase)
        return _error(status, message, headers)

    def handle(self, request: RecordedRequest) -> Response:
        if request.path != ORDER_PATH:
            return _error(404, f"Page not found: {request.path}")
        if request.method != "POST":
            return _error(405, f"{request.method} is not allowed; POST the order")
        if request.query.get("action", [""])[0].upper() != "CREATE":
            return _error(400, "Unknown action; use action=CREATE")
        if not self._authorized(request.query.get("authentication", [""])[0]):
            return _error(401, f"Invalid authentication for createorder.wws?{request.raw_query}")
        try:
            body = json.loads(request.body, parse_float=Decimal)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error(400, "Invalid JSON order")
        try:
            _validate(body)
        except _BadRequest as exc:
            return _error(400, str(exc))
        if body["orderKey"] in self.refusals:
            return _error(*self.refusals[body["orderKey"]])
        return Response.json(200, _jsonable(self._create(body)))

    def _authorized(self, value: str) -> bool:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(decoded.encode(), f"{self.api_key}:{self.api_secret}".encode())

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.submissions.append(body)
            existing = self.orders.get(body["orderKey"])
            if existing is not None:
                return existing.answer
            order_id = next(self._ids)
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
            items = [{"orderItemId": order_id * 10 + index, **item, "createDate": now, "modifyDate": now}
                     for index, item in enumerate(body["items"])]
            answer = {"orderId": order_id, **body, "createDate": now, "modifyDate": now, "items": items}
            self.orders[body["orderKey"]] = SophioOrder(order_id, body["orderKey"], body, answer)
            return answer
