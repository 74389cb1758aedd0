"""`GET /wc/v3/orders` parameters: PHP query parsing, WordPress schema validation, and the order query.

Validation messages are WordPress's (`rest_validate_value_from_schema`); the filtering follows
`WC_REST_CRUD_Controller::prepare_objects_query` and `WP_Date_Query` (strict bounds, second precision,
values with an offset converted to site-local time whatever column `dates_are_gmt` picks).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import parse_qsl

from connector.sandbox.wcdates import parse_wc

PhpValue = str | list[str]
Schema = dict[str, Any]

ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "checkout-draft")
STATUS_ENUM = ("any", "trash", "auto-draft", *ORDER_STATUSES)
HIDDEN_FROM_ANY = frozenset({"trash", "auto-draft", "checkout-draft"})
MODIFIED_FILTERS_SINCE = (5, 8)

_PHP_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_REST_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|([+-])(\d{2})(?::(\d{2}))?)?$"
)


def php_query(raw_query: str) -> dict[str, PhpValue]:
    """The query string as PHP's ``$_GET`` sees it.

    ``key[]`` / ``key[n]`` collect into a list; otherwise the last value of a key wins.
    """
    result: dict[str, PhpValue] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        bracket = key.find("[")
        if bracket > 0 and key.endswith("]"):
            base = key[:bracket]
            current = result.get(base)
            if isinstance(current, list):
                current.append(value)
            else:
                result[base] = [value]
        else:
            result[key] = value
    return result


def last_values(raw_query: str) -> dict[str, str]:
    """One value per literal key, the last one sent (what the OAuth signature is computed over)."""
    result: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        result[key] = value
    return result


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def order_collection_args(wc_version: str) -> dict[str, Schema]:
    """The collection's ``args`` schema for a store running ``wc_version`` (in the controller's order)."""
    ids: Schema = {"type": "array", "items": {"type": "integer"}, "default": []}
    args: dict[str, Schema] = {
        "context": {"description": "Scope under which the request is made.", "type": "string",
                    "enum": ["view", "edit"], "default": "view"},
        "page": {"description": "Current page of the collection.", "type": "integer", "default": 1, "minimum": 1},
        "per_page": {"description": "Maximum number of items to be returned in result set.", "type": "integer",
                     "default": 10, "minimum": 1, "maximum": 100},
        "search": {"description": "Limit results to those matching a string.", "type": "string"},
        "after": {"description": "Limit response to resources published after a given ISO8601 compliant date.",
                  "type": "string", "format": "date-time"},
        "before": {"description": "Limit response to resources published before a given ISO8601 compliant date.",
                   "type": "string", "format": "date-time"},
    }
    if version_tuple(wc_version) >= MODIFIED_FILTERS_SINCE:
        args["modified_after"] = {
            "description": "Limit response to resources modified after a given ISO8601 compliant date.",
            "type": "string", "format": "date-time"}
        args["modified_before"] = {
            "description": "Limit response to resources modified before a given ISO8601 compliant date.",
            "type": "string", "format": "date-time"}
    args.update({
        "dates_are_gmt": {
            "description": "Whether to consider GMT post dates when limiting response by published or modified date.",
            "type": "boolean", "default": False},
        "exclude": {"description": "Ensure result set excludes specific IDs.", **copy.deepcopy(ids)},
        "include": {"description": "Limit result set to specific ids.", **copy.deepcopy(ids)},
        "offset": {"description": "Offset the result set by a specific number of items.", "type": "integer"},
        "order": {"description": "Order sort attribute ascending or descending.", "type": "string",
                  "default": "desc", "enum": ["asc", "desc"]},
        "orderby": {"description": "Sort collection by object attribute.", "type": "string",
                    "default": "date", "enum": ["date", "id", "include", "modified"]},
        "parent": {"description": "Limit result set to those of particular parent IDs.", **copy.deepcopy(ids)},
        "parent_exclude": {"description": "Limit result set to all items except those of a particular parent ID.",
                           **copy.deepcopy(ids)},
        "status": {"description": "Limit result set to orders assigned one or more statuses.", "type": "array",
                   "items": {"type": "string", "enum": list(STATUS_ENUM)}, "default": ["any"]},
        "customer": {"description": "Limit result set to orders assigned a specific customer.", "type": "integer"},
        "product": {"description": "Limit result set to orders assigned a specific product.", "type": "integer"},
    })
    return args


class InvalidParams(Exception):
    """One or more parameters failed validation; ``errors`` maps each to WordPress's message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(f"Invalid parameter(s): {', '.join(errors)}")
        self.errors = errors


class _Invalid(Exception):
    pass


def _wp_list(items: Iterable[Any]) -> str:
    """``wp_sprintf('%l')``: "a", "a and b", "a, b, and c"."""
    words = [str(item) for item in items]
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + ", and " + words[-1]


def _validate(name: str, value: PhpValue, schema: Schema) -> Any:
    kind = schema["type"]
    if kind == "array":
        items = [part for part in re.split(r"[\s,]+", value) if part] if isinstance(value, str) else value
        return [_validate(f"{name}[{index}]", item, schema["items"]) for index, item in enumerate(items)]
    if isinstance(value, list):
        raise _Invalid(f"{name} is not of type {kind}.")
    if kind == "integer":
        if not _PHP_NUMERIC.match(value) or not float(value).is_integer():
            raise _Invalid(f"{name} is not of type integer.")
        number = int(float(value))
        minimum, maximum = schema.get("minimum"), schema.get("maximum")
        if minimum is not None and maximum is not None and not minimum <= number <= maximum:
            raise _Invalid(f"{name} must be between {minimum} (inclusive) and {maximum} (inclusive)")
        if minimum is not None and maximum is None and number < minimum:
            raise _Invalid(f"{name} must be greater than or equal to {minimum}")
        if maximum is not None and minimum is None and number > maximum:
            raise _Invalid(f"{name} must be less than or equal to {maximum}")
        return number
    if kind == "boolean":
        lowered = value.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise _Invalid(f"{name} is not of type boolean.")
        return lowered in ("true", "1")
    if "enum" in schema and value not in schema["enum"]:
        raise _Invalid(f"{name} is not one of {_wp_list(schema['enum'])}.")
    if schema.get("format") == "date-time" and _parse_rest_date(value) is None:
        raise _Invalid("Invalid date.")
    return value


def sanitize_params(params: Mapping[str, PhpValue], args: Mapping[str, Schema]) -> dict[str, Any]:
    """Validated and typed values for every declared arg (defaults filled); unknown params are ignored."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, schema in args.items():
        if name in params:
            try:
                values[name] = _validate(name, params[name], schema)
            except _Invalid as exc:
                errors[name] = str(exc)
        elif "default" in schema:
            values[name] = copy.deepcopy(schema["default"])
    if errors:
        raise InvalidParams(errors)
    return values


def _parse_rest_date(value: str) -> datetime | None:
    """An aware (offset given) or naive datetime, or None when WordPress would answer "Invalid date."."""
    match = _REST_DATE.match(value)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    try:
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    zone, sign, offset_hours, offset_minutes = match.group(7, 8, 9, 10)
    if zone == "Z":
        return moment.replace(tzinfo=UTC)
    if zone:
        offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes or 0))
        return moment.replace(tzinfo=timezone(-offset if sign == "-" else offset))
    return moment


def query_datetime(value: str, site_tz: tzinfo) -> datetime:
    """The naive value WP_Date_Query compares with: verbatim if naive, else converted to site-local time."""
    moment = _parse_rest_date(value)
    if moment is None:
        raise ValueError(f"invalid date {value!r}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(site_tz).replace(tzinfo=None)
    return moment


def _column_value(order: Mapping[str, Any], column: str) -> datetime | None:
    value = order.get(column)
    return parse_wc(value) if isinstance(value, str) and value else None


def _search_text(order: Mapping[str, Any]) -> str:
    parts: list[str] = [str(order.get("number", ""))]
    for section in ("billing", "shipping"):
        address = order.get(section)
        if isinstance(address, Mapping):  # like WooCommerce's `_billing_address_index`
            parts.append(" ".join(str(value) for value in address.values() if value))
    parts.extend(str(item.get("name", "")) for item in order.get("line_items") or [] if isinstance(item, Mapping))
    return "\n".join(parts).lower()


@dataclass(frozen=True)
class OrderQuery:
    """A validated orders query; the date bounds are naive values as WP_Date_Query compares them."""

    page: int = 1
    per_page: int = 10
    offset: int | None = None
    search: str | None = None
    after: datetime | None = None
    before: datetime | None = None
    modified_after: datetime | None = None
    modified_before: datetime | None = None
    dates_are_gmt: bool = False
    include: tuple[int, ...] = ()
    exclude: tuple[int, ...] = ()
    parent: tuple[int, ...] = ()
    parent_exclude: tuple[int, ...] = ()
    statuses: tuple[str, ...] = ("any",)
    customer: int | None = None
    product: int | None = None
    order: str = "desc"
    orderby: str = "date"

    @classmethod
    def from_params(cls, params: Mapping[str, PhpValue], *, wc_version: str, site_tz: tzinfo) -> OrderQuery:
        """Raises `InvalidParams` like WordPress; params the store version does not know are ignored."""
        values = sanitize_params(params, order_collection_args(wc_version))

        def bound(name: str) -> datetime | None:
            return query_datetime(values[name], site_tz) if name in values else None

        return cls(
            page=values["page"],
            per_page=values["per_page"],
            offset=abs(values["offset"]) if "offset" in values else None,
            search=values.get("search") or None,
            after=bound("after"),
            before=bound("before"),
            modified_after=bound("modified_after"),
            modified_before=bound("modified_before"),
            dates_are_gmt=values["dates_are_gmt"],
            include=tuple(values["include"]),
            exclude=tuple(values["exclude"]),
            parent=tuple(values["parent"]),
            parent_exclude=tuple(values["parent_exclude"]),
            statuses=tuple(values["status"]),
            customer=values.get("customer"),
            product=values.get("product"),
            order=values["order"],
            orderby=values["orderby"],
        )

    def matches(self, order: Mapping[str, Any]) -> bool:
        status = order.get("status")
        if "any" in self.statuses or not self.statuses:
            if status in HIDDEN_FROM_ANY:
                return False
        elif status not in self.statuses:
            return False
        suffix = "_gmt" if self.dates_are_gmt else ""
        for column, lower, upper in (
            (f"date_created{suffix}", self.after, self.before),
            (f"date_modified{suffix}", self.modified_after, self.modified_before),
        ):
            if lower is None and upper is None:
                continue
            value = _column_value(order, column)
            if value is None or (lower is not None and not value > lower) or (upper is not None and not value < upper):
                return False
        order_id = order.get("id")
        if (self.include and order_id not in self.include) or order_id in self.exclude:
            return False
        if (self.parent and order.get("parent_id") not in self.parent) or order.get("parent_id") in self.parent_exclude:
            return False
        if self.customer is not None and order.get("customer_id") != self.customer:
            return False
        if self.product is not None and not any(
            item.get("product_id") == self.product for item in order.get("line_items") or []
        ):
            return False
        if self.search is not None:
            term = self.search.strip()
            if not (term.isdigit() and int(term) == order_id) and term.lower() not in _search_text(order):
                return False
        return True

    def _sort_key(self, order: Mapping[str, Any]) -> tuple[Any, ...]:
        order_id = int(order.get("id") or 0)
        if self.orderby == "id":
            return (order_id,)
        column = "date_modified" if self.orderby == "modified" else "date_created"
        return (_column_value(order, column) or datetime.min, order_id)

    def select(self, orders: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Every matching order in the requested sort order (before pagination)."""
        matching = [order for order in orders if self.matches(order)]
        if self.orderby == "include" and self.include:
            position = {order_id: index for index, order_id in enumerate(self.include)}
            return sorted(matching, key=lambda order: position[order["id"]])
        return sorted(matching, key=self._sort_key, reverse=self.order == "desc")

    def paginate(self, matching: list[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], int, int]:
        """``(page_items, total, total_pages)``; ``offset`` replaces ``page`` like WP_Query does."""
        total = len(matching)
        total_pages = math.ceil(total / self.per_page)
        start = self.offset if self.offset is not None else (self.page - 1) * self.per_page
        return matching[start : start + self.per_page], total, total_pages
