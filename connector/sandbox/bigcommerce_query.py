"""The V2 orders list's query: filters, sort and paging as GET /v2/orders takes them.

- Dates filter with `min_/max_date_created` and `min_/max_date_modified` (RFC 2822 or ISO 8601,
  bounds inclusive, second precision); ids with `min_id`/`max_id`; `status_id` takes one value.
- `sort` is a field (`id`, `customer_id`, `date_created`, `date_modified`, `status_id`,
  `channel_id`, `external_id`) with an optional `:asc`/`:desc`; the default is id ascending.
- `limit` defaults to 50 and stops at 250 (more is a 413); `page` starts at 1.
- Incomplete orders (status 0) are listed only when asked for with `status_id=0`, and archived
  ones never. BigCommerce does not document the first point (shared/research/bigcommerce.md §6.2);
  the sandbox takes the stricter reading, so a client that needs status 0 must ask for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.sandbox.bcdates import parse_bc, parse_filter

DEFAULT_LIMIT = 50
MAX_LIMIT = 250
SORT_FIELDS = ("id", "customer_id", "date_created", "date_modified", "status_id", "channel_id", "external_id")
LIMIT_BODY = {"status": 413, "message": "The specified limit exceeds the maximum allowed.",
              "details": {"max_limit": MAX_LIMIT}}


class BadQuery(Exception):
    """The API refuses the query: `status` and the JSON `body` it answers with."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def _invalid(name: str) -> BadQuery:
    return BadQuery(400, [{"status": 400, "message": f"The field '{name}' is invalid."}])


def first(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def _integer(params: Mapping[str, list[str]], name: str, minimum: int | None = None) -> int | None:
    value = first(params, name)
    if value is None or value == "":
        return None
    try:
        number = int(float(value))
    except ValueError:
        raise _invalid(name) from None
    if minimum is not None and number < minimum:
        raise _invalid(name)
    return number


def _date(params: Mapping[str, list[str]], name: str) -> datetime | None:
    value = first(params, name)
    if value is None or value == "":
        return None
    moment = parse_filter(value)
    if moment is None:
        raise _invalid(name)
    return moment


@dataclass(frozen=True)
class Paging:
    page: int = 1
    limit: int = DEFAULT_LIMIT

    @classmethod
    def from_params(cls, params: Mapping[str, list[str]]) -> Paging:
        limit = _integer(params, "limit", minimum=1)
        if limit is not None and limit > MAX_LIMIT:
            raise BadQuery(413, LIMIT_BODY)
        return cls(page=_integer(params, "page", minimum=1) or 1, limit=limit or DEFAULT_LIMIT)

    def slice(self, rows: list[Any]) -> list[Any]:
        start = (self.page - 1) * self.limit
        return rows[start:start + self.limit]


@dataclass(frozen=True)
class OrderQuery:
    min_id: int | None = None
    max_id: int | None = None
    min_date_created: datetime | None = None
    max_date_created: datetime | None = None
    min_date_modified: datetime | None = None
    max_date_modified: datetime | None = None
    status_id: int | None = None
    customer_id: int | None = None
    email: str | None = None
    sort: str = "id"
    descending: bool = False
    paging: Paging = Paging()

    @classmethod
    def from_params(cls, params: Mapping[str, list[str]], *, paged: bool = True) -> OrderQuery:
        sort_value = first(params, "sort") or "id"
        field, _, direction = sort_value.partition(":")
        if field not in SORT_FIELDS or direction not in ("", "asc", "desc"):
            raise _invalid("sort")
        return cls(
            min_id=_integer(params, "min_id"),
            max_id=_integer(params, "max_id"),
            min_date_created=_date(params, "min_date_created"),
            max_date_created=_date(params, "max_date_created"),
            min_date_modified=_date(params, "min_date_modified"),
            max_date_modified=_date(params, "max_date_modified"),
            status_id=_integer(params, "status_id", minimum=0),
            customer_id=_integer(params, "customer_id", minimum=0),
            email=first(params, "email") or None,
            sort=field,
            descending=direction == "desc",
            paging=Paging.from_params(params) if paged else Paging(),
        )

    def matches(self, order: Mapping[str, Any], *, listing: bool = True) -> bool:
        status = int(order.get("status_id") or 0)
        if order.get("is_deleted"):
            return False
        if self.status_id is not None and status != self.status_id:
            return False
        if listing and self.status_id is None and status == 0:
            return False
        order_id = int(order["id"])
        if (self.min_id is not None and order_id < self.min_id) or (self.max_id is not None and order_id > self.max_id):
            return False
        for name, low, high in (("date_created", self.min_date_created, self.max_date_created),
                                ("date_modified", self.min_date_modified, self.max_date_modified)):
            if low is None and high is None:
                continue
            moment = parse_bc(str(order[name]))
            if (low is not None and moment < low) or (high is not None and moment > high):
                return False
        if self.customer_id is not None and int(order.get("customer_id") or 0) != self.customer_id:
            return False
        email = str((order.get("billing_address") or {}).get("email") or "")
        return self.email is None or email.lower() == self.email.lower()

    def _key(self, order: Mapping[str, Any]) -> tuple[Any, ...]:
        value = order.get(self.sort)
        if self.sort.startswith("date_"):
            value = parse_bc(str(value))
        elif value is None:
            value = ""
        return (value, int(order["id"]))

    def select(self, orders: Iterable[Mapping[str, Any]], *, listing: bool = True) -> list[Mapping[str, Any]]:
        """Every matching order in the requested order, before paging."""
        matching = [order for order in orders if self.matches(order, listing=listing)]
        return sorted(matching, key=self._key, reverse=self.descending)
