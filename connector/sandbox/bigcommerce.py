"""A simulated BigCommerce store: the V2 orders API under /stores/{hash}/v2/, with its quota and quirks.

What it does like BigCommerce (shared/research/bigcommerce.md):
- `X-Auth-Token` auth (401 otherwise); an unknown store hash is a 404.
- GET /orders with the real filters, sort and paging (see `bigcommerce_query`), 204 with an empty
  body when nothing matches, 413 for `limit` over 250; `include=fees` inlines fees, otherwise
  `products`, `shipping_addresses`, `coupons`, `fees` and `consignments` are link objects.
- GET /orders/count (per-status counts, Incomplete included), /orders/{id}, and the sub-resources
  /products, /shipping_addresses (also spelt /shippingaddresses, as the order's link has it),
  /coupons and /fees, paged with a default of 50 rows; GET /store and /order_statuses.
- Dates are RFC 2822 in UTC; money is strings (4 decimals in the sample data).
- Every counted request spends the store's quota (`Quota`): rate-limit headers on every answer,
  429 with an empty body once it is spent. `consume(n)` plays the store's other apps.
- The shared `Faults` (5xx, 429 without rate-limit headers, drops, slowness, HTML) come first.
- The headers the Orders V2 spec marks `required: true` (`Accept` on every orders path, `Content-Type`
  too on GET /orders/{id}/products) are checked: a request without one is recorded in
  ``missing_headers`` and, while ``require_headers`` is on, refused with a 400 naming the header
  (the spec documents no answer for it; this is the sandbox's strict reading).
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Any

from connector.sandbox.bcdates import format_bc, to_second
from connector.sandbox.bigcommerce_data import FIRST_ORDER_ID, ORDER_STATUSES, STATUS_NAMES
from connector.sandbox.bigcommerce_query import BadQuery, OrderQuery, Paging
from connector.sandbox.bigcommerce_quota import Headers, Quota
from connector.sandbox.server import RecordedRequest, Response, SandboxServer
from connector.sandbox.wcdates import utc_now

SUBRESOURCES = ("products", "shipping_addresses", "coupons", "fees")
_ALIASES = {"shippingaddresses": "shipping_addresses"}
_ORDER = re.compile(r"^orders/(\d+)(?:/([a-z_]+))?$")
SHIPPED_STATUS_IDS = (2, 10)
#: headers shared/research/bigcommerce_orders_v2_spec.yml marks `required: true` for the GETs, by route
#: (GET /store is not in that spec and has none)
_ACCEPT = ("Accept",)
REQUIRED_HEADERS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"^orders/\d+/products$"), ("Accept", "Content-Type")),
    (re.compile(r"^(orders|orders/count|order_statuses(/\d+)?|orders/\d+(/[a-z_]+)?)$"), _ACCEPT),
)


def required_headers(route: str) -> tuple[str, ...]:
    return next((names for pattern, names in REQUIRED_HEADERS if pattern.match(route)), ())


def _error(status: int, message: str, headers: Headers | None = None) -> Response:
    return Response.json(status, [{"status": status, "message": message}], headers)


class BigCommerceSandbox(SandboxServer):
    """A BigCommerce store on 127.0.0.1. Point the connector at it with BIGCOMMERCE_API_URL=`url`.

    ``orders`` holds each order in the assembled shape (the V2 order with ``products``,
    ``shipping_addresses``, ``coupons`` and ``fees`` inlined as arrays) by id. `add_order` and
    `update_order` keep ids, status names and dates consistent; ``clock`` gives the store's time
    for them. ``quota`` requests per ``window_ms`` (None: unlimited, no rate-limit headers), of
    which the store's other apps take ``other_apps`` as each window opens (`consume` spends more).
    `serve_as` sends an order, or one of its sub-resources, in a shape the store could never hold
    (a row that is a string, `shipping_addresses` as an object) while filters still see the stored order.
    """

    def __init__(self, store_hash: str = "sandbox1", access_token: str = "bc_sandbox_token", *,
                 quota: int | None = 150, window_ms: int = 30_000, other_apps: int = 0,
                 orders: Iterable[Mapping[str, Any]] | None = None, clock: Callable[[], datetime] | None = None,
                 weight_units: str = "LBS", require_headers: bool = True) -> None:
        super().__init__()
        self.require_headers = require_headers
        self.missing_headers: list[tuple[str, str]] = []  # (route, header) of every request that lacked one
        self.store_hash = store_hash
        self.access_token = access_token
        self.quota = Quota(quota, window_ms, other_apps=other_apps)
        self.clock: Callable[[], datetime] = clock or utc_now
        self.weight_units = weight_units
        self.orders: dict[int, dict[str, Any]] = {}
        self.wire_edits: dict[tuple[int, str | None], Callable[[Any], Any]] = {}
        self._lock = threading.RLock()
        self._next_row_id = 90_000
        for order in orders or ():
            self.add_order(order)

    def now(self) -> datetime:
        return to_second(self.clock())

    @property
    def api_url(self) -> str:
        """BIGCOMMERCE_API_URL for this store (the connector adds /stores/{hash}/v2/)."""
        return self.url

    @property
    def refused(self) -> int:
        """Requests answered 429 because the quota was spent."""
        return self.quota.refused

    def consume(self, requests: int) -> None:
        """Spend quota as the store's other apps would."""
        self.quota.spend(requests)

    # -- store state -----------------------------------------------------------------------
    def add_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """Store a copy of an assembled order; return a copy of what was stored.

        A missing ``id`` becomes the next free one (from 101); missing ``date_created`` and
        ``date_modified`` become now; ``status`` follows ``status_id``; sub-resource rows get ids
        and ``order_id``; ``items_total`` and ``shipping_address_count`` are filled in when absent.
        """
        stored = copy.deepcopy(dict(order))
        with self._lock:
            if stored.get("id") is None:
                stored["id"] = max(self.orders, default=FIRST_ORDER_ID) + 1
            order_id = int(stored["id"])
            if order_id in self.orders:
                raise ValueError(f"order {order_id} already exists; use update_order()")
            stored["id"] = order_id
            now = format_bc(self.now())
            stored.setdefault("date_created", now)
            stored.setdefault("date_modified", stored["date_created"])
            stored.setdefault("date_shipped", "")
            stored.setdefault("status_id", 11)
            stored.setdefault("is_deleted", False)
            self._name_status(stored)
            for key in SUBRESOURCES:
                rows = stored.setdefault(key, [])
                for row in rows:
                    if row.get("id") is None:
                        self._next_row_id += 1
                        row["id"] = self._next_row_id
                    if key != "fees":
                        row["order_id"] = order_id
            stored.setdefault("items_total", sum(int(p.get("quantity") or 0) for p in stored["products"]))
            stored.setdefault("shipping_address_count", len(stored["shipping_addresses"]))
            self.orders[order_id] = stored
            return copy.deepcopy(stored)

    def update_order(self, order_id: int, **fields: Any) -> dict[str, Any]:
        """Change an order as the store would: ``date_modified`` moves to now unless given, ``status``
        follows a new ``status_id``, and Shipped/Completed stamp ``date_shipped`` if unset."""
        with self._lock:
            if order_id not in self.orders:
                raise KeyError(f"no order {order_id}")
            order = self.orders[order_id]
            order.update(copy.deepcopy(fields))
            if "date_modified" not in fields:
                order["date_modified"] = format_bc(self.now())
            if "status_id" in fields and "status" not in fields:
                order.pop("status", None)
                order.pop("custom_status", None)
            self._name_status(order)
            if order["status_id"] in SHIPPED_STATUS_IDS and not order.get("date_shipped"):
                order["date_shipped"] = order["date_modified"]
            return copy.deepcopy(order)

    def remove_order(self, order_id: int) -> None:
        """Delete an order for good (its URLs answer 404 from now on)."""
        with self._lock:
            del self.orders[order_id]

    def serve_as(self, order_id: int, edit: Callable[[Any], Any] | None, resource: str | None = None) -> None:
        """From now on the API sends ``edit(what it would send)`` verbatim: for the order row (listing and
        GET /orders/{id}), or with ``resource`` ("products", "shipping_addresses", …) for that sub-resource's
        rows (None from the edit answers 204). ``edit=None`` sends what is stored again."""
        with self._lock:
            if edit is None:
                self.wire_edits.pop((order_id, resource), None)
            else:
                self.wire_edits[(order_id, resource)] = edit

    def get_order(self, order_id: int) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.orders[order_id])

    @staticmethod
    def _name_status(order: dict[str, Any]) -> None:
        name = STATUS_NAMES.get(int(order["status_id"]), "Unknown")
        order.setdefault("status", name)
        order.setdefault("custom_status", order["status"])

    # -- HTTP ------------------------------------------------------------------------------
    def error_response(self, status: int, headers: list[tuple[str, str]] | None = None) -> Response:
        if status == 429:  # platform load: no rate-limit headers, maybe a Retry-After
            return Response(429, b"", list(headers or []))
        message = "Internal Server Error" if status == 500 else HTTPStatus(status).phrase
        return _error(status, message, headers)

    def handle(self, request: RecordedRequest) -> Response:
        prefix = f"/stores/{self.store_hash}/v2/"
        if not request.path.startswith(prefix):
            return _error(404, "The requested resource was not found.")
        if request.header("x-auth-token") != self.access_token:
            return _error(401, "You must supply a valid X-Auth-Token header.")
        route = request.path[len(prefix):].strip("/")
        missing = [name for name in required_headers(route) if not request.header(name)]
        self.missing_headers.extend((route, name) for name in missing)
        if missing and self.require_headers:
            return _error(400, f"The required header {missing[0]} is missing.")
        allowed, headers = self.quota.take()
        if not allowed:
            return Response(429, b"", headers)
        if request.method not in ("GET", "HEAD"):
            response = _error(405, "The requested method is not allowed for this resource.")
        else:
            try:
                response = self._route(route, request.query, request)
            except BadQuery as exc:
                response = Response.json(exc.status, exc.body)
        response.headers.extend(headers)
        return response

    def _route(self, route: str, params: dict[str, list[str]], request: RecordedRequest) -> Response:
        base = f"{self.scheme}://{request.header('host') or f'127.0.0.1:{self.port}'}{request.path.split('/v2/')[0]}/v2"
        if route == "orders":
            return self._list(params, base)
        if route == "orders/count":
            return self._count(params)
        if route == "store":
            return Response.json(200, self._store_info())
        if route == "order_statuses":
            return Response.json(200, [self._status_row(i, n, d, k, 0) for k, (i, n, d) in enumerate(ORDER_STATUSES)])
        match = _ORDER.match(route)
        if not match:
            return _error(404, "The requested resource was not found.")
        with self._lock:
            order = self.orders.get(int(match.group(1)))
            if order is None:
                return _error(404, "The requested resource was not found.")
            if match.group(2) is None:
                return Response.json(200, self._render(order, base, params))
            name = _ALIASES.get(match.group(2), match.group(2))
            if name not in SUBRESOURCES:
                return _error(404, "The requested resource was not found.")
            rows: Any = Paging.from_params(params).slice(order[name])
            if name == "shipping_addresses":
                rows = [self._with_quotes(row, order["id"], base) for row in rows]
            edit = self.wire_edits.get((int(order["id"]), name))
            rows = copy.deepcopy(rows) if edit is None else edit(copy.deepcopy(rows))
            if rows is None or (edit is None and not rows):
                return Response(204)
            return Response.json(200, rows)

    def _list(self, params: dict[str, list[str]], base: str) -> Response:
        query = OrderQuery.from_params(params)
        with self._lock:
            page = query.paging.slice(query.select(self.orders.values()))
            body = [self._render(order, base, params) for order in page]
        return Response.json(200, body) if body else Response(204)

    def _count(self, params: dict[str, list[str]]) -> Response:
        query = OrderQuery.from_params(params, paged=False)
        with self._lock:
            matching = query.select(self.orders.values(), listing=False)
        counts: dict[int, int] = {}
        for order in matching:
            counts[int(order["status_id"])] = counts.get(int(order["status_id"]), 0) + 1
        statuses = [self._status_row(i, n, d, k, counts.get(i, 0)) for k, (i, n, d) in enumerate(ORDER_STATUSES)]
        return Response.json(200, {"statuses": statuses, "count": len(matching)})

    @staticmethod
    def _status_row(status_id: int, name: str, description: str, sort_order: int, count: int) -> dict[str, Any]:
        return {"id": status_id, "name": name, "system_label": name, "custom_label": name,
                "system_description": description, "count": count, "sort_order": sort_order}

    def _render(self, order: Mapping[str, Any], base: str, params: Mapping[str, list[str]]) -> Any:
        data = {k: copy.deepcopy(v) for k, v in order.items() if k not in SUBRESOURCES}
        includes = {part for value in params.get("include", []) for part in value.split(",")}
        for name in (*SUBRESOURCES, "consignments"):
            path = "shippingaddresses" if name == "shipping_addresses" else name
            data[name] = {"url": f"{base}/orders/{order['id']}/{path}", "resource": f"/orders/{order['id']}/{path}"}
        if "fees" in includes:
            data["fees"] = copy.deepcopy(order.get("fees") or [])
        edit = self.wire_edits.get((int(order["id"]), None))
        return data if edit is None else edit(data)

    @staticmethod
    def _with_quotes(row: Mapping[str, Any], order_id: int, base: str) -> dict[str, Any]:
        resource = f"/orders/{order_id}/shippingaddresses/{row['id']}/shippingquotes"
        return {**row, "shipping_quotes": {"url": f"{base}{resource}", "resource": resource}}

    def _store_info(self) -> dict[str, Any]:
        return {"id": self.store_hash, "domain": "sandbox-store.example", "secure_url": "https://sandbox-store.example",
                "name": "Sandbox Supply Co.", "country": "United States", "country_code": "US",
                "currency": "USD", "currency_symbol": "$", "decimal_places": 2, "weight_units": self.weight_units,
                "dimension_units": "Inches", "plan_name": "Standard", "plan_level": "Standard",
                "is_price_entered_with_tax": False}
