"""A simulated WooCommerce store: the wc/v3 orders endpoints over plain HTTP, with WooCommerce's auth,
and the catalogue reads a client needs for line weights (products, variations, the weight unit)."""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from connector.sandbox.server import RecordedRequest, Response, SandboxServer
from connector.sandbox.wcdates import date_pair, format_wc, from_gmt, from_local, site_timezone, to_second, utc_now
from connector.sandbox.woocommerce_auth import AuthResult, WooCommerceAuth
from connector.sandbox.woocommerce_products import DEFAULT_WEIGHT_UNIT, render_variation, sample_catalog, weight_unit_setting
from connector.sandbox.woocommerce_query import (
    MODIFIED_FILTERS_SINCE,
    InvalidParams,
    OrderQuery,
    PhpValue,
    last_values,
    order_collection_args,
    php_query,
    sanitize_params,
    version_tuple,
)

PAID_STATUSES = frozenset({"processing", "completed"})
DATE_FIELDS = ("date_created", "date_modified", "date_paid", "date_completed")
FIRST_ORDER_ID = 1001
WORDPRESS_VERSION = "6.7.1"

_ORDER_ROUTE = re.compile(r"^/wc/v3/orders/(\d+)$")
_VARIATIONS_ROUTE = re.compile(r"^/wc/v3/products/(\d+)/variations$")
_WEIGHT_UNIT_ROUTE = "/wc/v3/settings/products/woocommerce_weight_unit"
_IDS: dict[str, Any] = {"type": "array", "items": {"type": "integer"}, "default": []}
#: the collection args of /products and /products/{id}/variations that the sandbox honours
CATALOG_ARGS: dict[str, dict[str, Any]] = {
    "page": {"type": "integer", "default": 1, "minimum": 1},
    "per_page": {"type": "integer", "default": 10, "minimum": 1, "maximum": 100},
    "include": _IDS,
}
_NOT_FOUND_PAGE = (b"<!DOCTYPE html><html><head><title>Page not found</title></head>"
                   b"<body><h1>Not Found</h1></body></html>")


def _wp_json(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response.json(status, payload, headers, escape_slashes=True)


def _wc_error(status: int, code: str, message: str, **data: Any) -> Response:
    return _wp_json(status, {"code": code, "message": message, "data": {"status": status, **data}})


def _no_route() -> Response:
    return _wc_error(404, "rest_no_route", "No route was found matching the URL and request method.")


def _wp_list(value: PhpValue) -> list[str]:
    parts = value if isinstance(value, list) else re.split(r"[\s,]+", value)
    return [part for part in parts if part]


def filter_fields(data: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """WordPress's ``_fields``: keep only the listed keys; ``a.b`` selects nested keys."""
    result: dict[str, Any] = {}
    for field in fields:
        path = field.split(".")
        source: Any = data
        target = result
        for depth, part in enumerate(path):
            if not isinstance(source, Mapping) or part not in source:
                break
            if depth == len(path) - 1:
                target[part] = copy.deepcopy(source[part])
            else:
                existing = target.get(part)
                target = existing if isinstance(existing, dict) else target.setdefault(part, {})
                source = source[part]
    return result


class WooCommerceSandbox(SandboxServer):
    """A WooCommerce store on 127.0.0.1 serving `/wp-json/wc/v3/orders` (and `?rest_route=` URLs).

    ``orders`` holds wc/v3 order JSON by id, exactly as the API returns it except ``_links``,
    which are rebuilt for the sandbox's address on every response. Tests may edit it directly
    (e.g. to store a malformed order); `add_order` / `update_order` keep the dates consistent.
    `serve_as` sends an order in a shape the store could never hold (a row that is a string, a
    lone surrogate, a total of 10^30) while filters and sorting still see the stored order.
    ``clock`` returns the current time (aware UTC) for new and updated orders; authentication
    always uses the real time, like a store checking a client's OAuth timestamp.
    """

    def __init__(
        self,
        consumer_key: str = "ck_sandbox_key",
        consumer_secret: str = "cs_sandbox_secret",
        *,
        wc_version: str = "9.4.0",
        site_utc_offset_hours: float = -3,
        orders: Iterable[Mapping[str, Any]] | None = None,
        clock: Callable[[], datetime] | None = None,
        allow_basic_auth: bool = True,
        home_url: str | None = None,
        weight_unit: str = DEFAULT_WEIGHT_UNIT,
    ) -> None:
        super().__init__()
        self.weight_unit = weight_unit
        #: the catalogue by id (`woocommerce_products`); tests may edit or delete entries
        self.products, self.variations = sample_catalog()
        self._home_url = home_url.rstrip("/") if home_url else None
        self.wc_version = wc_version
        self.site_utc_offset_hours = site_utc_offset_hours
        self.site_tz = site_timezone(site_utc_offset_hours)
        self.clock: Callable[[], datetime] = clock or utc_now
        self.auth = WooCommerceAuth(consumer_key, consumer_secret, allow_basic=allow_basic_auth)
        self.orders: dict[int, dict[str, Any]] = {}
        self.wire_edits: dict[int, Callable[[dict[str, Any]], Any]] = {}
        self._lock = threading.RLock()
        for order in orders or ():
            self.add_order(order)

    @property
    def consumer_key(self) -> str:
        return self.auth.consumer_key

    @property
    def consumer_secret(self) -> str:
        return self.auth.consumer_secret

    @property
    def home_url(self) -> str:
        """The address the store knows itself by (WordPress's home URL): ``url`` unless given.

        Like WooCommerce, OAuth 1.0a signatures are checked against this address, not against the
        Host the client used: a client signing for ``http://localhost:PORT`` gets 401 "Invalid signature"."""
        return self._home_url or self.url

    @property
    def supports_modified_filters(self) -> bool:
        """``modified_after`` / ``modified_before`` exist since WooCommerce 5.8."""
        return version_tuple(self.wc_version) >= MODIFIED_FILTERS_SINCE

    def now(self) -> datetime:
        """The store's current time: ``clock()`` in UTC, truncated to the second."""
        return to_second(self.clock())

    # -- store state -----------------------------------------------------------------------
    def add_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """Store a copy of ``order`` and return a copy of what was stored.

        Assigns ``id`` (next free, from 1001) and ``number`` when missing; a missing
        created/modified date becomes now; a date given in one form only (local or ``_gmt``)
        gets the other form; absent paid/completed dates become null.
        """
        stored = copy.deepcopy(dict(order))
        with self._lock:
            if stored.get("id") is None:
                stored["id"] = max(self.orders, default=FIRST_ORDER_ID - 1) + 1
            order_id = int(stored["id"])
            if order_id in self.orders:
                raise ValueError(f"order {order_id} already exists; use update_order()")
            stored["id"] = order_id
            if not stored.get("number"):
                stored["number"] = str(order_id)
            now = self.now()
            for name in DATE_FIELDS:
                default = now if name in ("date_created", "date_modified") else None
                self._complete_date_pair(stored, name, default)
            self.orders[order_id] = stored
            return copy.deepcopy(stored)

    def update_order(self, order_id: int, **fields: Any) -> dict[str, Any]:
        """Apply ``fields`` to an order as the store would, and return a copy of the result.

        ``date_modified(_gmt)`` moves to now unless given; entering ``processing``/``completed``
        stamps ``date_paid(_gmt)`` if unset, and ``completed`` stamps ``date_completed(_gmt)``.
        """
        with self._lock:
            if order_id not in self.orders:
                raise KeyError(f"no order {order_id}")
            order = self.orders[order_id]
            order.update(copy.deepcopy(fields))
            now = self.now()
            for name in DATE_FIELDS:
                local_given, gmt_given = name in fields, f"{name}_gmt" in fields
                if local_given and not gmt_given:
                    order[f"{name}_gmt"] = None  # re-derived from the local value below
                if local_given or gmt_given:
                    self._complete_date_pair(order, name, None)
            if "date_modified" not in fields and "date_modified_gmt" not in fields:
                self._set_date_pair(order, "date_modified", now)
            status = order.get("status")
            if status in PAID_STATUSES and not order.get("date_paid_gmt"):
                self._set_date_pair(order, "date_paid", now)
            if status == "completed" and not order.get("date_completed_gmt"):
                self._set_date_pair(order, "date_completed", now)
            return copy.deepcopy(order)

    def serve_as(self, order_id: int, edit: Callable[[dict[str, Any]], Any] | None) -> None:
        """From now on the API sends ``edit(order JSON)`` for this order, verbatim, wherever it sends the
        order (listing and GET /orders/{id}); None sends it as stored again."""
        with self._lock:
            if edit is None:
                self.wire_edits.pop(order_id, None)
            else:
                self.wire_edits[order_id] = edit

    def get_order(self, order_id: int) -> dict[str, Any]:
        """A copy of the stored order."""
        with self._lock:
            return copy.deepcopy(self.orders[order_id])

    def _set_date_pair(self, order: dict[str, Any], name: str, moment: datetime) -> None:
        order[name], order[f"{name}_gmt"] = date_pair(moment, self.site_tz)

    def _complete_date_pair(self, order: dict[str, Any], name: str, default: datetime | None) -> None:
        local, gmt = order.get(name), order.get(f"{name}_gmt")
        if gmt:
            order[name] = format_wc(from_gmt(gmt), self.site_tz)
        elif local:
            order[f"{name}_gmt"] = format_wc(from_local(local, self.site_tz), UTC)
        elif default is not None:
            self._set_date_pair(order, name, default)
        else:
            order[name] = order[f"{name}_gmt"] = None

    # -- HTTP ------------------------------------------------------------------------------
    def error_response(self, status: int, headers: list[tuple[str, str]] | None = None) -> Response:
        if status == 429:
            retry = dict(headers or []).get("Retry-After", "1")
            body = {"code": "rate_limit_exceeded",
                    "message": f"Too many requests. Please wait {retry} seconds before trying again.",
                    "data": {"status": 429}}
        else:
            message = ("There has been a critical error on this website." if status == 500
                       else HTTPStatus(status).phrase)
            body = {"code": "internal_server_error", "message": message, "data": {"status": status}}
        return _wp_json(status, body, headers)

    def handle(self, request: RecordedRequest) -> Response:
        params = php_query(request.raw_query)
        route = self._rest_route(request, params)
        if route is None:
            return Response(404, _NOT_FOUND_PAGE, [("Content-Type", "text/html; charset=UTF-8")])
        host = request.header("host") or f"127.0.0.1:{self.port}"
        root = f"{self.scheme}://{host}/wp-json/"
        method = "GET" if request.method == "HEAD" else request.method
        if route == "/":
            return self._site_index() if method == "GET" else _no_route()
        # WC_REST_Authentication signs get_home_url() + the request path, whatever Host was used
        home = urlsplit(self.home_url)
        auth = self.auth.authenticate(request.method, f"{home.scheme}://{home.netloc}{request.path}",
                                      last_values(request.raw_query), request.headers)
        if auth.error is not None:
            return _wc_error(401, "woocommerce_rest_authentication_error", auth.error)
        return self._route(method, route.lower(), params, auth, root)

    @staticmethod
    def _rest_route(request: RecordedRequest, params: Mapping[str, PhpValue]) -> str | None:
        path = unquote(request.path)
        if path == "/wp-json" or path.startswith("/wp-json/"):
            route = path[len("/wp-json"):]
        elif path in ("/", "/index.php") and isinstance(params.get("rest_route"), str):
            route = str(params["rest_route"])
        else:
            return None
        return "/" + route.strip("/")

    def _route(self, method: str, route: str, params: dict[str, PhpValue], auth: AuthResult, root: str) -> Response:
        if route == "/wc/v3":
            return self._namespace_index(root) if method == "GET" else _no_route()
        if route == "/wc/v3/orders":
            if method == "OPTIONS":
                return _wp_json(200, self._orders_route_description(root))
            if method != "GET":
                return _no_route()
            if not auth.authenticated:
                return _wc_error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
            return self._list_orders(params, root)
        match = _ORDER_ROUTE.match(route)
        if match:
            if method != "GET":
                return _no_route()
            return self._get_order(int(match.group(1)), params, auth, root)
        if route == "/wc/v3/products" or _VARIATIONS_ROUTE.match(route) or route == _WEIGHT_UNIT_ROUTE:
            if method != "GET":
                return _no_route()
            if not auth.authenticated:
                return _wc_error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
            if route == _WEIGHT_UNIT_ROUTE:
                return _wp_json(200, weight_unit_setting(self.weight_unit))
            return self._list_catalog(route, params)
        if route == "/wc/v3/system_status":
            if method != "GET":
                return _no_route()
            if not auth.authenticated:
                return _wc_error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
            return _wp_json(200, self._system_status(root))
        return _no_route()

    def _list_orders(self, params: dict[str, PhpValue], root: str) -> Response:
        try:
            query = OrderQuery.from_params(params, wc_version=self.wc_version, site_tz=self.site_tz)
        except InvalidParams as exc:
            return _wc_error(400, "rest_invalid_param", str(exc), params=exc.errors)
        with self._lock:
            matching = query.select(list(self.orders.values()))
            page, total, total_pages = query.paginate(matching)
            body = [self._render(order, root, params) for order in page]
        headers = [("X-WP-Total", str(total)), ("X-WP-TotalPages", str(total_pages))]
        link = self._pagination_links(query.page, total_pages, params, f"{root}wc/v3/orders")
        headers.append(("Link", link) if link else ("Link", f'<{root}>; rel="https://api.w.org/"'))
        return _wp_json(200, body, headers)

    def _list_catalog(self, route: str, params: dict[str, PhpValue]) -> Response:
        """Products, or one product's variations (an unknown parent has none), by id, `include`d ones only."""
        try:
            values = sanitize_params(params, CATALOG_ARGS)
        except InvalidParams as exc:
            return _wc_error(400, "rest_invalid_param", str(exc), params=exc.errors)
        match = _VARIATIONS_ROUTE.match(route)
        with self._lock:
            if match:
                parent = self.products.get(int(match.group(1)))
                rows = [render_variation(v, parent) for v in self.variations.values()
                        if v.get("parent_id") == int(match.group(1))]
            else:
                rows = [copy.deepcopy(p) for p in self.products.values()]
        if values["include"]:
            rows = [row for row in rows if row["id"] in values["include"]]
        rows.sort(key=lambda row: row["id"])
        per_page, page = values["per_page"], values["page"]
        total_pages = -(-len(rows) // per_page)
        body = rows[(page - 1) * per_page: page * per_page]
        return _wp_json(200, body, [("X-WP-Total", str(len(rows))), ("X-WP-TotalPages", str(total_pages))])

    def _get_order(self, order_id: int, params: dict[str, PhpValue], auth: AuthResult, root: str) -> Response:
        with self._lock:
            order = self.orders.get(order_id)
            # Like WooCommerce, the permission check only applies to an order that exists.
            if order is None:
                return _wc_error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
            if not auth.authenticated:
                return _wc_error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
            return _wp_json(200, self._render(order, root, params))

    def _render(self, order: Mapping[str, Any], root: str, params: Mapping[str, PhpValue]) -> Any:
        data = copy.deepcopy(dict(order))
        links: dict[str, list[dict[str, str]]] = {
            "self": [{"href": f"{root}wc/v3/orders/{order['id']}"}],
            "collection": [{"href": f"{root}wc/v3/orders"}],
        }
        if order.get("customer_id"):
            links["customer"] = [{"href": f"{root}wc/v3/customers/{order['customer_id']}"}]
        if order.get("parent_id"):
            links["up"] = [{"href": f"{root}wc/v3/orders/{order['parent_id']}"}]
        data["_links"] = links
        if "_fields" in params:
            data = filter_fields(data, _wp_list(params["_fields"]))
        edit = self.wire_edits.get(int(order["id"]))
        return data if edit is None else edit(data)

    @staticmethod
    def _pagination_links(page: int, total_pages: int, params: Mapping[str, PhpValue], base: str) -> str:
        """``prev``/``next`` as `WC_REST_CRUD_Controller::get_items` builds them (all query params kept)."""
        pairs: list[tuple[str, str]] = []
        for key, value in params.items():
            if key == "page":
                continue
            if isinstance(value, list):
                pairs.extend((f"{key}[{index}]", item) for index, item in enumerate(value))
            else:
                pairs.append((key, value))

        def href(target: int) -> str:
            return f"{base}?{urlencode([*pairs, ('page', str(target))])}"

        links: list[str] = []
        if page > 1:
            links.append(f'<{href(min(page - 1, total_pages))}>; rel="prev"')
        if total_pages > page:
            links.append(f'<{href(page + 1)}>; rel="next"')
        return ", ".join(links)

    # -- discovery -------------------------------------------------------------------------
    def _site_index(self) -> Response:
        home = self.home_url
        body = {
            "name": "Sandbox Store",
            "description": "A simulated WooCommerce store",
            "url": home,
            "home": home,
            "gmt_offset": self.site_utc_offset_hours,
            "timezone_string": "",
            "namespaces": ["oembed/1.0", "wp/v2", "wc/v3"],
            "authentication": [],
            "_links": {"help": [{"href": "https://developer.wordpress.org/rest-api/"}]},
        }
        return _wp_json(200, body)

    def _orders_route_description(self, root: str) -> dict[str, Any]:
        return {
            "namespace": "wc/v3",
            "methods": ["GET"],
            "endpoints": [{"methods": ["GET"], "args": order_collection_args(self.wc_version)}],
            "_links": {"self": [{"href": f"{root}wc/v3/orders"}]},
        }

    def _namespace_index(self, root: str) -> Response:
        single = {
            "namespace": "wc/v3",
            "methods": ["GET"],
            "endpoints": [{"methods": ["GET"], "args": {
                "id": {"description": "Unique identifier for the resource.", "type": "integer", "required": False},
                "context": {"description": "Scope under which the request is made.", "type": "string",
                            "enum": ["view", "edit"], "default": "view", "required": False},
            }}],
        }
        body = {
            "namespace": "wc/v3",
            "routes": {
                "/wc/v3": {"namespace": "wc/v3", "methods": ["GET"],
                           "endpoints": [{"methods": ["GET"], "args": {}}],
                           "_links": {"self": [{"href": f"{root}wc/v3"}]}},
                "/wc/v3/orders": self._orders_route_description(root),
                "/wc/v3/orders/(?P<id>[\\d]+)": single,
                "/wc/v3/system_status": {"namespace": "wc/v3", "methods": ["GET"],
                                         "endpoints": [{"methods": ["GET"], "args": {}}],
                                         "_links": {"self": [{"href": f"{root}wc/v3/system_status"}]}},
            },
            "_links": {"up": [{"href": root}]},
        }
        return _wp_json(200, body)

    def _system_status(self, root: str) -> dict[str, Any]:
        home = root.removesuffix("/wp-json/")
        return {
            "environment": {
                "home_url": home,
                "site_url": home,
                "version": self.wc_version,
                "wp_version": WORDPRESS_VERSION,
                "wp_multisite": False,
                "language": "en_US",
            },
            "settings": {"api_enabled": True, "currency": "USD", "currency_symbol": "&#36;"},
            "active_plugins": [
                {"plugin": "woocommerce/woocommerce.php", "name": "WooCommerce", "version": self.wc_version},
            ],
        }

