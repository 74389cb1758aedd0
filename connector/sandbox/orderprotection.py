"""A simulated OrderProtection: ``POST /v1/orders`` as `shared/api-docs/orderprotection-orders-api.txt` describes it.

Documented: Bearer auth; the body's required fields (sourceOrderId, sourceCreatedAt, platformId,
currency, total, subtotal, orderItems, address), their types and the platformId and currency enums;
201 {"status": "ok"}. Not documented, so assumed here: the error bodies
(``{"statusCode", "error", "message"}``), and that a repeated sourceOrderId creates no second order
(it is answered 201 like the first). Bodies are read with exact decimals, so tests can check money.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from connector.sandbox.server import RecordedRequest, Response, SandboxServer

ORDERS_PATH = "/v1/orders"
PLATFORMS = frozenset({"shopify", "woocommerce", "magento", "bigcommerce", "api"})
CURRENCIES = frozenset(["ADP", "AED", "AFA", "AFN", "ALK", "ALL", "AMD", "ANG", "AOA", "AOK", "AON", "AOR", "ARA", "ARP", "ARS", "ARY", "ATS", "AUD", "AWG", "AYM", "AZM", "AZN", "BAD", "BAM", "BBD", "BDT", "BEC", "BEF", "BEL", "BGJ", "BGK", "BGL", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOP", "BOV", "BRB", "BRC", "BRE", "BRL", "BRN", "BRR", "BSD", "BTN", "BUK", "BWP", "BYB", "BYN", "BYR", "BZD", "CAD", "CDF", "CHC", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CSD", "CSJ", "CSK", "CUC", "CUP", "CVE", "CYP", "CZK", "DDM", "DEM", "DJF", "DKK", "DOP", "DZD", "ECS", "ECV", "EEK", "EGP", "ERN", "ESA", "ESB", "ESP", "ETB", "EUR", "FIM", "FJD", "FKP", "FRF", "GBP", "GEK", "GEL", "GHC", "GHP", "GHS", "GIP", "GMD", "GNE", "GNF", "GNS", "GQE", "GRD", "GTQ", "GWE", "GWP", "GYD", "HKD", "HNL", "HRD", "HRK", "HTG", "HUF", "IDR", "IEP", "ILP", "ILR", "ILS", "INR", "IQD", "IRR", "ISJ", "ISK", "ITL", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAJ", "LAK", "LBP", "LKR", "LRD", "LSL", "LSM", "LTL", "LTT", "LUC", "LUF", "LUL", "LVL", "LVR", "LYD", "MAD", "MDL", "MGA", "MGF", "MKD", "MLF", "MMK", "MNT", "MOP", "MRO", "MRU", "MTL", "MTP", "MUR", "MVQ", "MVR", "MWK", "MXN", "MXP", "MXV", "MYR", "MZE", "MZM", "MZN", "NAD", "NGN", "NIC", "NIO", "NLG", "NOK", "NPR", "NZD", "OMR", "PAB", "PEH", "PEI", "PEN", "PES", "PGK", "PHP", "PKR", "PLN", "PLZ", "PTE", "PYG", "QAR", "RHD", "ROK", "ROL", "RON", "RSD", "RUB", "RUR", "RWF", "SAR", "SBD", "SCR", "SDD", "SDG", "SDP", "SEK", "SGD", "SHP", "SIT", "SKK", "SLL", "SOS", "SRD", "SRG", "SSP", "STD", "STN", "SUR", "SVC", "SYP", "SZL", "THB", "TJR", "TJS", "TMM", "TMT", "TND", "TOP", "TPE", "TRL", "TRY", "TTD", "TWD", "TZS", "UAH", "UAK", "UGS", "UGW", "UGX", "USD", "USN", "USS", "UYI", "UYN", "UYP", "UYU", "UYW", "UZS", "VEB", "VEF", "VES", "VNC", "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XDR", "XEU", "XFO", "XFU", "XOF", "XPD", "XPF", "XPT", "XRE", "XSU", "XTS", "XUA", "XXX", "YDD", "YER", "YUD", "YUM", "YUN", "ZAL", "ZAR", "ZMK", "ZMW", "ZRN", "ZRZ", "ZWC", "ZWD", "ZWL", "ZWN", "ZWR"])  # noqa: E501 - the document's list, verbatim
REQUIRED = ("sourceOrderId", "sourceCreatedAt", "platformId", "currency", "total", "subtotal", "orderItems", "address")
STRINGS = ("sourceOrderId", "originalSourceOrderNumber", "sourceOrderNumber", "sourceCreatedAt", "sourceUpdatedAt",
           "sourceCancelledAt", "platformId", "riskLevel", "currency", "customerEmail", "customerName",
           "customerPhone", "tags")
NUMBERS = ("premiumPaid", "premiumCost", "premiumDiscount", "total", "discountTotal", "shippingCost", "tax",
           "subtotal", "shippingCostTax")
DATES = ("sourceCreatedAt", "sourceUpdatedAt", "sourceCancelledAt")
ITEM_STRINGS = ("productName", "productUrl", "productImage", "sku", "sourceItemId", "sourceProductId",
                "sourceVariantId", "description")
ITEM_NUMBERS = ("quantity", "price")
ADDRESS_STRINGS = ("firstName", "lastName", "address1", "address2", "city", "state", "zip", "country")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class _BadRequest(Exception):
    pass


@dataclass(frozen=True)
class ProtectedOrder:
    """An order OrderProtection holds: the first accepted body for its sourceOrderId."""

    source_order_id: str
    body: dict[str, Any]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def _check_types(container: dict[str, Any], strings: tuple[str, ...], numbers: tuple[str, ...], where: str) -> None:
    for name in strings:
        if container.get(name) is not None and not isinstance(container[name], str):
            raise _BadRequest(f"{where}{name} must be a string")
    for name in numbers:
        if container.get(name) is not None and not _is_number(container[name]):
            raise _BadRequest(f"{where}{name} must be a number")


def _validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise _BadRequest("body must be a JSON object")
    missing = [name for name in REQUIRED if body.get(name) in (None, "")]
    if missing:
        raise _BadRequest(f"{', '.join(missing)} should not be empty")
    _check_types(body, STRINGS, NUMBERS, "")
    if body["platformId"] not in PLATFORMS:
        raise _BadRequest(f"platformId must be one of the following values: {', '.join(sorted(PLATFORMS))}")
    if body["currency"] not in CURRENCIES:
        raise _BadRequest("currency must be one of the documented currency codes")
    for name in DATES:
        if body.get(name) is not None and not _ISO.match(body[name]):
            raise _BadRequest(f"{name} must be a valid ISO 8601 date string")
    items = body["orderItems"]
    if not isinstance(items, list):
        raise _BadRequest("orderItems must be an array")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _BadRequest(f"orderItems.{index} must be an object")
        _check_types(item, ITEM_STRINGS, ITEM_NUMBERS, f"orderItems.{index}.")
    address = body["address"]
    if not isinstance(address, dict):
        raise _BadRequest("address must be an object")
    _check_types(address, ADDRESS_STRINGS, (), "address.")


def _error(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    body = {"statusCode": status, "error": HTTPStatus(status).phrase, "message": message}
    return Response.json(status, body, headers)


class OrderProtectionSandbox(SandboxServer):
    """OrderProtection on 127.0.0.1. Inspect ``orders`` (sourceOrderId → first body) and ``submissions``."""

    def __init__(self, api_token: str = "op_test_sandbox") -> None:
        super().__init__()
        self.api_token = api_token
        self.orders: dict[str, ProtectedOrder] = {}
        self.submissions: list[dict[str, Any]] = []
        self.refusals: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def refuse(self, source_order_id: str | int, message: str, status: int = 422) -> None:
        """Answer ``status`` with ``message`` for this sourceOrderId (a rule of OrderProtection's own)."""
        self.refusals[str(source_order_id)] = (status, message)

    def submissions_for(self, source_order_id: str | int) -> int:
        """How many accepted submissions carried ``sourceOrderId == source_order_id``."""
        wanted = str(source_order_id)
        with self._lock:
            return sum(1 for body in self.submissions if body.get("sourceOrderId") == wanted)

    def error_response(self, status: int, headers: list[tuple[str, str]] | None = None) -> Response:
        message = {500: "Internal server error", 429: "ThrottlerException: Too Many Requests"}.get(
            status, HTTPStatus(status).phrase)
        return _error(status, message, headers)

    def handle(self, request: RecordedRequest) -> Response:
        if request.path.rstrip("/") != ORDERS_PATH:
            return _error(404, f"Cannot {request.method} {request.path}")
        if request.method != "POST":
            return _error(404, f"Cannot {request.method} {request.path}")
        if not self._authorized(request):
            return _error(401, "Unauthorized")
        try:
            body = json.loads(request.body, parse_float=Decimal)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error(400, "Unexpected token in JSON body")
        try:
            _validate(body)
        except _BadRequest as exc:
            return _error(400, str(exc))
        if body["sourceOrderId"] in self.refusals:
            return _error(*self.refusals[body["sourceOrderId"]])
        with self._lock:
            self.submissions.append(body)
            self.orders.setdefault(body["sourceOrderId"], ProtectedOrder(body["sourceOrderId"], body))
        return Response.json(201, {"status": "ok"})

    def _authorized(self, request: RecordedRequest) -> bool:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_token.encode())
