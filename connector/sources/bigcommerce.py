"""BigCommerce (V2 orders API): every order in the configured statuses, with all its line items.

Polling facts (shared/research/bigcommerce.md):
- Windows are read by `date_modified` (poll) or `date_created` (backfill), `sort=<field>:asc`,
  `limit=250`. V2 has only offset paging and a row that changes mid-scan jumps to the end, so
  each full page restarts the query at the last row's time less a second (keyset style) instead
  of asking for page 2; `page` only grows when more than 250 rows share those seconds. A 204 or a
  short page ends the scan. Rows are deduplicated on (id, date_modified) within a scan.
- Bounds are sent as RFC 2822 in UTC (requests encodes them once) a second early, because the
  API keeps seconds only and does not say whether `min_*` is inclusive. A row before the lower
  bound means the filter was ignored: that is an error, not a reason to read the whole store.
- Eligibility is `status_id` in BIGCOMMERCE_STATUS_IDS, checked on our side: one listing serves
  every status (the API takes one `status_id` per call, so filtering there costs one scan per
  status, most of them answering 204). An order that arrives Incomplete (0) and is paid later
  (11) gets a new `date_modified`, so a later poll lists it again and it is taken then. Whether
  the unfiltered listing shows status 0 is not documented: when 0 is configured, one more scan
  asks for `status_id=0` explicitly.
- Per eligible order: /products (limit 250, paged: orders with more than 250 lines exist),
  /shipping_addresses (unless `shipping_address_count` is 0) and /coupons (unless
  `coupon_discount` is 0); fees come inline with `include=fees`. An order the ledger already
  holds at the same `date_modified` is taken from the ledger (the poll asks it for a page's
  `versions` and hands what it holds to `expand`), so re-reading the look-back window costs the listing only.
- One order never holds back the others: a sub-resource that answers something other than an
  array makes that order malformed (recorded with the reason); one that keeps failing (5xx, a
  captcha page) after a few quick tries leaves the order `Rejected.transient`: recorded, and read
  again by id (GET /orders/{id} and its sub-resources, `again`) at each later poll until it loads.
  A listing row with no usable id (a string, null) is logged and counted: it has nothing to be
  recorded under.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import tenacity

from connector import tls
from connector.adapters import ConfigError, Reader, Secret, Spec
from connector.orders import MalformedOrder, Order, Rejected, money
from connector.sources.base import (
    Estimate,
    Known,
    Listed,
    Page,
    Source,
    SourceAuthError,
    SourceError,
    TransientSourceError,
    platform_id,
    retrying,
)
from connector.sources.bigcommerce_api import NotFound, RateLimited, StoreAPI
from connector.sources.bigcommerce_orders import (
    fulfilment,
    parse_order,
    rfc2822,
    rfc2822_query,
    status_id,
    weight_unit,
)
from connector.sources.clock import StoreClock

log = logging.getLogger("connector.sources.bigcommerce")

LIMIT = 250  # the API's maximum page size (more answers 413)
CHUNK = 25  # listed orders per `Page`: the ledger commits (and a backfill's cursor moves) this often
REQUESTS_PER_ORDER = 3  # products, shipping addresses, coupons: at most, for an order under 250 lines
SECOND = timedelta(seconds=1)
DETAIL_ATTEMPTS = 3  # tries for one order's details before it is left to be read again at the next poll


@dataclass(frozen=True)
class BigCommerceSettings:
    store_hash: str
    access_token: Secret
    client_id: str | None
    api_url: str = "https://api.bigcommerce.com"
    status_ids: tuple[int, ...] = (2, 3, 8, 9, 10, 11)
    currency: str = "USD"

    @property
    def store(self) -> str:
        return self.store_hash


def from_env(r: Reader) -> BigCommerceSettings | None:
    if not r.all_or_none(("BIGCOMMERCE_STORE_HASH", "BIGCOMMERCE_ACCESS_TOKEN"), "BigCommerce"):
        return None
    token = r.secret("BIGCOMMERCE_ACCESS_TOKEN")
    assert token is not None
    store_hash = r.text("BIGCOMMERCE_STORE_HASH") or ""
    if not store_hash.replace("-", "").isalnum():
        raise ConfigError("BIGCOMMERCE_STORE_HASH", "the store hash (letters and digits, as in stores/<hash>/v2)", store_hash)
    ids_text = r.words("BIGCOMMERCE_STATUS_IDS", ("2", "3", "8", "9", "10", "11"))
    try:
        status_ids = tuple(int(x) for x in ids_text)
    except ValueError:
        raise ConfigError("BIGCOMMERCE_STATUS_IDS", "comma-separated status ids such as 2,3,8,9,10,11",
                          ",".join(ids_text)) from None
    if any(not 0 <= i <= 14 for i in status_ids):
        raise ConfigError("BIGCOMMERCE_STATUS_IDS", "status ids between 0 and 14", ",".join(ids_text))
    currency = (r.text("BIGCOMMERCE_CURRENCY", "USD") or "USD").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ConfigError("BIGCOMMERCE_CURRENCY", "an ISO 4217 code such as USD", currency)
    return BigCommerceSettings(
        store_hash=store_hash,
        access_token=token,
        client_id=r.text("BIGCOMMERCE_CLIENT_ID"),
        api_url=r.url("BIGCOMMERCE_API_URL", "https://api.bigcommerce.com") or "https://api.bigcommerce.com",
        status_ids=status_ids,
        currency=currency,
    )


class BigCommerce(Source):
    name = "bigcommerce"
    settings: BigCommerceSettings

    def __init__(self, settings: BigCommerceSettings, *, timeout: float = 30.0, headroom: float = 0.1,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 retry: Callable[[], tenacity.Retrying] = retrying, trust: tls.Trust | None = None) -> None:
        self.settings = settings
        self.api = StoreAPI(settings, timeout=timeout, headroom=headroom, sleep=sleep, clock=clock, retry=retry,
                            trust=trust)
        self.unit: str | None = None  # the store's weight unit, read once when first needed
        self.fetched = 0  # orders whose sub-resources were read
        self.recalled = 0  # orders taken from the ledger unchanged (`known`)
        self._failing: set[str] = set()  # orders `again` just failed to read: not tried twice in one poll
        self._count = threading.Lock()  # `expand` assembles orders in several threads
        self._pool: ThreadPoolExecutor | None = None

    @property
    def store(self) -> str:
        return self.settings.store

    # -- windows -----------------------------------------------------------------------------

    @property
    def clock(self) -> StoreClock:  # type: ignore[override]
        return self.api.clock

    def modified(self, since: datetime) -> Iterator[Page]:
        self.api.clock = StoreClock()
        return self._scan("date_modified", since, None)

    def created(self, since: datetime, until: datetime | None) -> Iterator[Page]:
        return self._scan("date_created", since, until)

    def _scan(self, field: str, since: datetime, until: datetime | None) -> Iterator[Page]:
        seen: set[tuple[str, str]] = set()
        yield from self._stream(field, since, until, {}, seen)
        if 0 in self.settings.status_ids:
            yield from self._stream(field, since, until, {"status_id": 0}, seen)

    def _stream(self, field: str, since: datetime, until: datetime | None, extra: dict[str, int],
                seen: set[tuple[str, str]]) -> Iterator[Page]:
        lower = since.astimezone(UTC).replace(microsecond=0) - SECOND
        page = 1
        while True:
            params: dict[str, str | int] = {f"min_{field}": rfc2822_query(lower), "sort": f"{field}:asc",
                                            "limit": LIMIT, "page": page, "include": "fees", **extra}
            if until is not None:
                params[f"max_{field}"] = rfc2822_query(until)
            rows = _listing(self.api.get("orders", params))
            fresh: list[Any] = []
            beyond = False
            for row in rows:
                if not isinstance(row, dict):
                    fresh.append(row)  # counted and logged by `_page`
                    continue
                moment = _moment(row, field)
                self.clock.modified(_moment(row, "date_modified"))
                if moment is not None and moment < lower:
                    raise SourceError(f"BigCommerce ignored min_{field}: order {row.get('id')} has {field} "
                                      f"{row.get(field)!r}, before {rfc2822_query(lower)!r}; stopping rather than "
                                      "reading the whole store")
                if until is not None and moment is not None and moment >= until:
                    beyond = True  # sorted ascending: the rest is past the range too
                    break
                key = (str(row.get("id")), str(row.get("date_modified")))
                if key not in seen:
                    seen.add(key)
                    fresh.append(row)
            for start in range(0, len(fresh), CHUNK):
                yield self._page(fresh[start:start + CHUNK])
            if beyond or len(rows) < LIMIT:
                return
            first, last = _moment(rows[0], field), _moment(rows[-1], field)
            if first is not None and last is not None and first < last - SECOND:
                lower, page = last - SECOND, 1
            else:  # a full page within two seconds would come back the same: the one case for page 2, 3, …
                page += 1

    def _page(self, rows: list[Any]) -> Page:
        page = Page(seen=len(rows))
        for row in rows:
            if not self.readable(row):
                page.unreadable += 1
            elif self._eligible(row):
                page.listed.append(Listed(str(platform_id(row)), _modified(row), row))
        return page

    def expand(self, page: Page, known: Known) -> Page:
        """The listed orders with their sub-resources (products, shipping addresses, coupons), unless `known`:
        several orders at once, as many as the quota's reserve allows in flight (`RateLimit.concurrency`)."""
        fetch = [listed for listed in page.listed if not self._held(listed, known)]
        if fetch:
            self._weight_unit()  # once, before the threads
        workers = min(len(fetch), self.api.limit.concurrency)
        if workers > 1:
            if self._pool is None:  # kept for the source's life: threads started anew per page fragment the heap
                self._pool = ThreadPoolExecutor(max_workers=self.api.limit.concurrency, thread_name_prefix="bigcommerce")
            assembled = list(self._pool.map(lambda listed: self._assemble(listed.row, known=known), page.listed))
        else:
            assembled = [self._assemble(listed.row, known=known) for listed in page.listed]
        page.orders.extend(order for order in assembled if order is not None)
        page.listed = []
        return page

    def _held(self, listed: Listed, known: Known) -> bool:
        return listed.modified_at is not None and (listed.order_id, listed.modified_at) in known

    def again(self, order_ids: Sequence[str]) -> Page:
        """GET /orders/{id} (with fees) and its sub-resources for each order left to be read again."""
        page = Page()
        self._failing.clear()
        for order_id in order_ids:
            try:
                row = self.api.get(f"orders/{order_id}", {"include": "fees"}, retry=self._detail_retry)
            except NotFound:
                page.forget.append(order_id)
                continue
            except RateLimited:
                raise
            except TransientSourceError as exc:
                page.orders.append(self.reject({"id": order_id}, str(exc), transient=True))
                continue
            page.seen += 1
            if not isinstance(row, dict) or platform_id(row) != order_id:
                page.orders.append(self.reject({"id": order_id}, f"BigCommerce orders/{order_id} answered "
                                                f"{type(row).__name__} that is not this order"))
            elif not self._eligible(row):
                page.forget.append(order_id)  # no longer in the configured statuses: nothing to send
            else:
                order = self._assemble(row)
                if order is None:
                    page.forget.append(order_id)
                else:
                    page.orders.append(order)
        self._failing = {o.order_id for o in page.orders if isinstance(o, Rejected) and o.transient}
        return page

    def _eligible(self, row: dict[str, Any]) -> bool:
        try:
            return status_id(row) in self.settings.status_ids
        except MalformedOrder:
            return True  # recorded as malformed, with the reason, rather than silently passed over

    def _assemble(self, row: dict[str, Any], *, known: Known | None = None) -> Order | Rejected | None:
        """The listed order with its sub-resources inlined, parsed; None when it vanished meanwhile.

        A sub-resource that is not an array makes the order malformed; one that keeps failing leaves
        it to be read again (`Rejected.transient`); either way the scan goes on with the next order.
        `known`: a listed order (None: one read again by id, never taken from the ledger)."""
        order_id = platform_id(row)
        if order_id is None:
            return self.read(row)
        if known is not None and order_id in self._failing:  # `again` failed to read it moments ago: recorded already
            self._failing.discard(order_id)
            return None
        modified = _modified(row)
        held = known.get((order_id, modified)) if known is not None and modified is not None else None
        if held is not None:
            with self._count:
                self.recalled += 1
            return held
        try:
            self._weight_unit()
            raw = {
                **row,
                "products": self._all(f"orders/{order_id}/products"),
                "shipping_addresses": (self._all(f"orders/{order_id}/shipping_addresses")
                                       if _maybe_nonzero(row.get("shipping_address_count")) else []),
                "coupons": self._all(f"orders/{order_id}/coupons") if _maybe_nonzero(row.get("coupon_discount")) else [],
            }
        except NotFound:
            log.warning("BigCommerce order %s was listed but its details are gone (archived meanwhile?); skipped",
                        order_id)
            return None
        except MalformedOrder as exc:
            return self.reject(row, str(exc))
        except (SourceAuthError, RateLimited):  # about the store, not this order: the poll stops as before
            raise
        except TransientSourceError as exc:
            return self.reject(row, str(exc), transient=True)
        except SourceError as exc:  # another 4xx for this order alone: it cannot be read as it stands
            return self.reject(row, str(exc))
        with self._count:
            self.fetched += 1
        return self.read(raw)

    def _detail_retry(self) -> tenacity.Retrying:
        """The usual policy, cut to DETAIL_ATTEMPTS (a 429 still waits its full course): an order whose
        details keep failing is read again at the next poll rather than held on to."""
        policy = self.api.retry()

        def cut(state: tenacity.RetryCallState) -> bool:
            failure = state.outcome.exception() if state.outcome else None
            return state.attempt_number >= DETAIL_ATTEMPTS and not isinstance(failure, RateLimited)

        stop = policy.stop
        return policy.copy(stop=lambda state: bool(stop(state)) or cut(state))

    def _all(self, path: str) -> list[Any]:
        """Every row of a paged sub-resource (their default page is 50 rows: always ask for 250).
        An answer that is not an array is `MalformedOrder` (rows that are not objects are left to `parse`)."""
        rows: list[Any] = []
        page = 1
        while True:
            body = self.api.get(path, {"limit": LIMIT, "page": page}, retry=self._detail_retry)
            if body is not None and not isinstance(body, list):
                name = path.rsplit("/", 1)[-1]
                raise MalformedOrder(f"{name}: BigCommerce {path} answered {type(body).__name__}, expected an array")
            batch = body or []
            rows.extend(batch)
            if len(batch) < LIMIT:
                return rows
            page += 1

    def _weight_unit(self) -> str:
        if self.unit is None:
            try:
                body = self.api.get("store")
                self.unit = weight_unit(body.get("weight_units") if isinstance(body, dict) else "")
            except TransientSourceError:
                raise
            except SourceError as exc:
                log.warning("BigCommerce store settings unreadable (%s): line weights are sent without a unit", exc)
                self.unit = ""
        return self.unit

    # -- estimates and probes ------------------------------------------------------------------

    def _counts(self, params: dict[str, str | int]) -> tuple[int, int, int]:
        """(all orders, orders the listing shows, orders in the configured statuses) from /orders/count."""
        body = self.api.get("orders/count", params)
        if not isinstance(body, dict):
            return 0, 0, 0
        counts: dict[int, int] = {}
        for entry in body.get("statuses") or []:
            try:
                counts[int(entry["id"])] = int(entry.get("count") or 0)
            except (KeyError, TypeError, ValueError):
                continue
        total = int(body.get("count") or 0)
        if not counts:  # the old answer: {"count": N}
            return total, total, total
        listed = sum(n for i, n in counts.items() if i != 0) + (counts.get(0, 0) if 0 in self.settings.status_ids else 0)
        return total, listed, sum(counts.get(i, 0) for i in self.settings.status_ids)

    def estimate(self, since: datetime, until: datetime | None) -> Estimate:
        params: dict[str, str | int] = {"min_date_created": rfc2822_query(since - SECOND)}
        if until is not None:
            params["max_date_created"] = rfc2822_query(until)
        _, listed, eligible = self._counts(params)
        scans = 2 if 0 in self.settings.status_ids else 1
        requests = listed // LIMIT + scans + eligible * REQUESTS_PER_ORDER + (1 if eligible and self.unit is None else 0)
        limit = self.api.limit
        note = ""
        if limit.per_window is not None and limit.window is not None:
            note = (f"{limit.per_window} requests per {limit.window:g} s: the store's quota of {limit.quota} "
                    f"less {limit.reserve} left for its other apps")
        return Estimate(orders=listed, eligible=eligible, requests=requests, seconds=limit.seconds_for(requests),
                        note=note)

    def probe(self) -> str:
        self.api.clock = StoreClock()
        total, _, eligible = self._counts({})
        return (f"BigCommerce store {self.store}: {total} orders, {eligible} in status ids "
                f"{','.join(map(str, self.settings.status_ids))}")

    # -- mapping -----------------------------------------------------------------------------

    def not_polled(self, order: Order) -> str | None:
        if order.status_id in self.settings.status_ids:
            return None
        return (f"status_id {order.status_id} ({order.status}) is not in BIGCOMMERCE_STATUS_IDS "
                f"({','.join(map(str, self.settings.status_ids))})")

    def parse(self, raw: dict[str, Any]) -> Order:
        return parse_order(raw, store=self.store, default_currency=self.settings.currency, unit=self.unit or "")

    @property
    def requests_sent(self) -> int:
        return self.api.sent

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self.api.close()


def _listing(body: Any) -> list[Any]:
    if body is None:  # 204: nothing (not `{}`, not an item)
        return []
    if not isinstance(body, list):
        raise SourceError(f"BigCommerce orders answered {type(body).__name__}, expected a list")
    return body


def _modified(row: dict[str, Any]) -> datetime | None:
    """The row's `date_modified`, or None when it is missing or unreadable."""
    try:
        return rfc2822(row.get("date_modified"), "date_modified", required=True)
    except MalformedOrder:
        return None


def _moment(row: Any, field: str) -> datetime | None:
    if not isinstance(row, dict):
        return None
    try:
        return rfc2822(row.get(field), field)
    except MalformedOrder:
        return None


def _maybe_nonzero(value: Any) -> bool:
    """False only for a readable zero: an unreadable count or amount means "go and look"."""
    try:
        return money(value, "") != 0 if value is not None else True
    except MalformedOrder:
        return True



SPEC = Spec(
    kind="source",
    name="bigcommerce",
    title="BigCommerce",
    adapter=BigCommerce,
    from_env=from_env,
    enable_variables=("BIGCOMMERCE_STORE_HASH", "BIGCOMMERCE_ACCESS_TOKEN"),
    credential_variables=("BIGCOMMERCE_ACCESS_TOKEN",),
    url_variables=("BIGCOMMERCE_STORE_HASH", "BIGCOMMERCE_API_URL"),
    preview_settings=lambda: BigCommerceSettings(store_hash="preview", access_token=Secret("preview"), client_id=None),
    preview_input="the V2 order with its products, shipping_addresses and coupons inlined as arrays",
    code="bc",
    platform="bigcommerce",
    fulfilment=fulfilment,
)
