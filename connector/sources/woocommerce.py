"""WooCommerce (wc/v3) through the official `woocommerce` package, which does the auth:
HTTP Basic over HTTPS, query-string auth when asked, OAuth 1.0a over plain HTTP.

Polling facts (shared/research/woocommerce.md): `modified_after` with a naive UTC value and
`dates_are_gmt=true`; bounds are strict and per second, so windows overlap by the look-back;
`order=asc`; `per_page=100` and every page (X-WP-TotalPages); only the configured statuses;
the `*_gmt` fields are the truth. Stores older than 5.8 have no `modified_after`: we fall back
to the creation date with a wider look-back and say so. A 200/202 that is not JSON is an error.
Orders carry no weights: each page's lines get them from the catalogue (`woocommerce_weights`).
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from woocommerce import API

from connector import USER_AGENT, redaction, tls
from connector.adapters import ConfigError, Reader, Secret, Spec
from connector.orders import (
    Address,
    Coupon,
    Customer,
    Fee,
    Fulfilment,
    LineItem,
    MalformedOrder,
    Option,
    Order,
    money,
    quantity,
)
from connector.outcomes import Outcome, classify_exception, classify_status, retry_after
from connector.sources.base import (
    Page,
    Source,
    SourceAuthError,
    SourceConfigError,
    SourceError,
    TransientSourceError,
    platform_id,
    retrying,
)
from connector.sources.clock import StoreClock
from connector.sources.woocommerce_weights import ProductWeights

if TYPE_CHECKING:
    from connector.capabilities import Capabilities

log = logging.getLogger("connector.sources.woocommerce")

PER_PAGE = 100
LEGACY_LOOKBACK = timedelta(days=7).total_seconds()  # creation-date fallback for stores older than 5.8
MODIFIED_AFTER = "modified_after"  # the capability the OPTIONS probe asks about (`connector.capabilities`)
RESCANS = 3


@dataclass(frozen=True)
class WooCommerceSettings:
    url: str
    consumer_key: Secret
    consumer_secret: Secret
    statuses: tuple[str, ...] = ("processing", "completed")
    query_string_auth: bool = False

    @property
    def store(self) -> str:
        parts = urlsplit(self.url)
        return (parts.netloc + parts.path).rstrip("/")


#: WooCommerce's order statuses (shared/research/woocommerce.md) as `orders.Fulfilment`; a custom one is "other"
FULFILMENT: dict[str, Fulfilment] = {
    "pending": "unpaid",
    "failed": "unpaid",
    "checkout-draft": "unpaid",
    "on-hold": "on_hold",
    "processing": "unfulfilled",
    "completed": "shipped",
    "cancelled": "cancelled",
    "refunded": "refunded",
}


def fulfilment(status: str, status_id: int | None = None) -> Fulfilment:
    return FULFILMENT.get(status.strip().lower(), "other")


def from_env(r: Reader) -> WooCommerceSettings | None:
    if not r.all_or_none(("WOOCOMMERCE_CONSUMER_KEY", "WOOCOMMERCE_CONSUMER_SECRET"), "WooCommerce"):
        return None
    url = r.url("WOOCOMMERCE_URL")
    if url is None:
        raise ConfigError("WOOCOMMERCE_URL", "the store's URL, because WOOCOMMERCE_CONSUMER_KEY is set")
    key, secret = r.secret("WOOCOMMERCE_CONSUMER_KEY"), r.secret("WOOCOMMERCE_CONSUMER_SECRET")
    assert key is not None and secret is not None
    redaction.register_pair(key, secret)
    if not key.startswith("ck_"):
        raise ConfigError("WOOCOMMERCE_CONSUMER_KEY", "a WooCommerce consumer key starting with ck_")
    if not secret.startswith("cs_"):
        raise ConfigError("WOOCOMMERCE_CONSUMER_SECRET", "a WooCommerce consumer secret starting with cs_")
    statuses = r.words("WOOCOMMERCE_STATUSES", ("processing", "completed"))
    for status in statuses:
        if not status.replace("-", "").replace("_", "").isalnum():
            raise ConfigError("WOOCOMMERCE_STATUSES", "order status slugs such as processing,completed", ",".join(statuses))
    return WooCommerceSettings(
        url=url,
        consumer_key=key,
        consumer_secret=secret,
        statuses=statuses,
        query_string_auth=r.flag("WOOCOMMERCE_QUERY_STRING_AUTH"),
    )


def gmt(value: Any, field: str, *, required: bool = False) -> datetime | None:
    """A WooCommerce `*_gmt` string (naive ISO in UTC) as an aware UTC datetime."""
    if value in (None, ""):
        if required:
            raise MalformedOrder(f"{field} is missing")
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: a year-1 time with an offset has no UTC equivalent
        raise MalformedOrder(f"{field} is not an ISO 8601 time: {value!r}") from None


def wc_time(value: datetime) -> str:
    """Query value: naive UTC to the second (an offset would be mis-applied by WordPress)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class WooCommerce(Source):
    name = "woocommerce"
    settings: WooCommerceSettings
    clock: StoreClock

    def __init__(self, settings: WooCommerceSettings, *, timeout: float = 30.0, trust: tls.Trust | None = None) -> None:
        self.settings = settings
        self.trust = trust or tls.Trust()
        self.clock = StoreClock()
        self.api = API(
            url=settings.url,
            consumer_key=settings.consumer_key,
            consumer_secret=settings.consumer_secret,
            version="wc/v3",
            timeout=(min(10.0, timeout), timeout),
            query_string_auth=settings.query_string_auth,
            user_agent=USER_AGENT,
            verify_ssl=self.trust.verify,
        )
        self._supports_modified: bool | None = None
        self._capabilities: Capabilities | None = None  # the probe's answer across processes (the ledger)
        self.weights = ProductWeights(self._get)  # line weights from the catalogue, cached for this source's life
        self._refused: SourceConfigError | None = None  # a certificate failure met by the OPTIONS probe

    @property
    def store(self) -> str:
        return self.settings.store

    # -- HTTP --------------------------------------------------------------------------------

    def _get(self, endpoint: str, params: dict[str, Any]) -> tuple[Any, requests.Response]:
        def once() -> tuple[Any, requests.Response]:
            if self._refused is not None:  # said by this read rather than met again in another handshake
                refused, self._refused = self._refused, None
                raise refused
            try:
                # a copy: the package writes query-string secrets into the dict it is given
                response = self.api.get(endpoint, params=dict(params))
            except requests.RequestException as exc:
                if classify_exception(exc) is Outcome.CONFIG:
                    raise self._certificate(exc) from None
                raise TransientSourceError(f"WooCommerce {endpoint}: {type(exc).__name__}: {exc}") from None
            self.clock.answer(response.headers)
            return self._json(endpoint, response), response

        return retrying()(once)

    def _certificate(self, exc: Exception) -> SourceConfigError:
        """A TLS certificate that does not verify (`Outcome.CONFIG`): a configuration error, never retried."""
        return SourceConfigError(f"WooCommerce: {tls.failure(exc, self.settings.url, 'WOOCOMMERCE_URL', self.trust)}")

    def _json(self, endpoint: str, response: requests.Response) -> Any:
        status = response.status_code
        outcome = classify_status(status)
        if status == 401 and self._oauth and _bad_signature(response):
            raise SourceAuthError(self._signature_advice(response))
        if outcome is Outcome.AUTH:
            raise SourceAuthError(f"WooCommerce refused the credentials ({status}: {_message(response)}); "
                                  "check WOOCOMMERCE_CONSUMER_KEY / WOOCOMMERCE_CONSUMER_SECRET"
                                  + ("" if self.settings.query_string_auth or not self.settings.url.startswith("https")
                                     else " or try WOOCOMMERCE_QUERY_STRING_AUTH=true if the host strips Authorization"))
        if outcome is Outcome.TRANSIENT:
            raise TransientSourceError(f"WooCommerce {endpoint} answered {status}: {_message(response)}",
                                       retry_after=retry_after(status, response.headers))
        if outcome is Outcome.PERMANENT and status >= 400:  # a 3xx left by requests is read as a body below
            raise SourceError(f"WooCommerce {endpoint} answered {status}: {_message(response)}")
        content_type = response.headers.get("Content-Type", "")
        try:
            body = response.json()
        except ValueError:
            body = None
        if body is None or "json" not in content_type.lower():
            raise TransientSourceError(
                f"WooCommerce {endpoint} answered {status} with {content_type or 'no content type'}, not JSON "
                "(a host captcha or maintenance page?)", retry_after=retry_after(status, response.headers))
        return body

    @property
    def _oauth(self) -> bool:
        """The package signs with OAuth 1.0a whenever the URL is not https."""
        return not self.settings.url.lower().startswith("https")

    def _signature_advice(self, response: requests.Response) -> str:
        """401 "Invalid signature" over plain HTTP: the store signs its own address (WordPress's home URL)
        plus the path, so any difference in scheme, host or port from WOOCOMMERCE_URL breaks every request."""
        ours = self.settings.url.rstrip("/")
        home = self._home_url()
        where = (f"WOOCOMMERCE_URL is {ours} but the store's own address is {home}; "
                 if home and not _same_address(home, ours) else "")
        return (f"WooCommerce refused the request signature (401: {_message(response)}): {where}over plain HTTP the "
                "OAuth signature covers the URL, so WOOCOMMERCE_URL must be exactly the store's address (scheme, host "
                "and port as the store knows itself, e.g. localhost and 127.0.0.1 differ)"
                + ("" if where else "; if it is, check WOOCOMMERCE_CONSUMER_SECRET"))

    def _home_url(self) -> str | None:
        """The store's own address from the public REST index (GET /wp-json/, no credentials), or None."""
        try:
            response = requests.get(f"{self.settings.url.rstrip('/')}/wp-json/", timeout=self.api.timeout,
                                    headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
            body = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None
        home = body.get("home") or body.get("url") if isinstance(body, dict) else None
        return str(home).rstrip("/") if isinstance(home, str) and home else None

    # -- windows -----------------------------------------------------------------------------

    def remember_in(self, capabilities: Capabilities) -> None:
        self._capabilities = capabilities

    def supports_modified_after(self) -> bool:
        """WooCommerce ≥ 5.8 lists `modified_after` in the orders route's arguments (OPTIONS): asked once per
        process, and not at all while the ledger holds an answer younger than an hour (`remember_in`)."""
        if self._supports_modified is None and self._refused is None and self._capabilities is not None:
            remembered = self._capabilities.get(MODIFIED_AFTER)
            if remembered is not None:
                self._supports_modified = remembered == "true"
                if not self._supports_modified:
                    self._warn_legacy()
        if self._supports_modified is None and self._refused is None:
            known = False  # whether the store said (an OPTIONS answer listing the route's arguments)
            try:
                response = self.api.options("orders")
                body = response.json() if response.status_code == 200 else None
            except requests.RequestException as exc:
                self._refused = self._certificate(exc) if classify_exception(exc) is Outcome.CONFIG else None
                if self._refused is not None:  # not known yet: the next read says why, the next poll asks again
                    return True
                body = None
            except ValueError:
                body = None
            if isinstance(body, dict) and body.get("endpoints"):
                args = {k for e in body["endpoints"] for k in (e.get("args") or {})}
                self._supports_modified = "modified_after" in args
                known = True
            else:
                self._supports_modified = True  # cannot tell: assume a current store
            if not self._supports_modified:
                self._warn_legacy()
            if known and self._capabilities is not None:
                self._capabilities.put(MODIFIED_AFTER, "true" if self._supports_modified else "false")
        return self._supports_modified is not False

    def _warn_legacy(self) -> None:
        log.warning("WooCommerce at %s has no modified_after (WooCommerce < 5.8): polling by creation date "
                    "with a %d-day look-back; an order paid later than that after creation will be missed "
                    "— upgrade WooCommerce", self.store, LEGACY_LOOKBACK // 86400)

    @property
    def extra_lookback(self) -> float:  # type: ignore[override]
        return 0.0 if self.supports_modified_after() else LEGACY_LOOKBACK

    @property
    def window_basis(self) -> str:  # type: ignore[override]
        return "modified" if self.supports_modified_after() else "created"

    def modified(self, since: datetime) -> Iterator[Page]:
        self.clock = StoreClock()
        if self.supports_modified_after():
            params = {"modified_after": wc_time(since), "dates_are_gmt": "true", "orderby": "id"}
        else:
            params = {"after": wc_time(since), "dates_are_gmt": "true", "orderby": "id"}
        return self._scan(params)

    def created(self, since: datetime, until: datetime | None) -> Iterator[Page]:
        params = {"after": wc_time(since - timedelta(seconds=1)), "dates_are_gmt": "true", "orderby": "date"}
        if until is not None:
            params["before"] = wc_time(until)
        return self._scan(params)

    def _scan(self, filters: dict[str, str]) -> Iterator[Page]:
        """Every page of one window. Offset paging can skip a row when an order leaves the filtered set
        mid-scan, so when the total shrank we scan the window again (the ledger makes repeats free)."""
        base = {**filters, "order": "asc", "per_page": PER_PAGE, "status": ",".join(self.settings.statuses)}
        for _ in range(RESCANS):
            seen_ids: set[str] = set()
            first_total: int | None = None
            page_number, pages, total = 1, 1, 0
            while page_number <= pages:
                body, response = self._get("orders", {**base, "page": page_number})
                if not isinstance(body, list):
                    raise SourceError(f"WooCommerce orders answered {type(body).__name__}, expected a list")
                total = _int_header(response, "X-WP-Total", len(body))
                pages = _int_header(response, "X-WP-TotalPages", 1)
                first_total = total if first_total is None else first_total
                page = Page(seen=len(body))
                taken = []
                for index, raw in enumerate(body):
                    seen_ids.add(platform_id(raw) or f"row {page_number}.{index}")  # an unreadable row counts once
                    if not self.readable(raw):
                        page.unreadable += 1
                        continue
                    self.clock.modified(_modified(raw))
                    status = raw.get("status")  # re-filter: some hosts ignore filters; a status that is no text is malformed
                    if not isinstance(status, str) or status in self.settings.statuses:
                        taken.append(raw)
                self.weights.load(taken)
                page.orders.extend(self.read(raw) for raw in taken)
                yield page
                page_number += 1
            if first_total is None or (total >= first_total and len(seen_ids) >= min(total, first_total)):
                return
            log.info("WooCommerce orders changed during the scan (%s → %s); scanning the window again", first_total, total)

    def probe(self) -> str:
        self.clock = StoreClock()
        body, response = self._get("orders", {"per_page": 1, "status": ",".join(self.settings.statuses)})
        newest = body[0].get("id") if isinstance(body, list) and body else None
        return (f"WooCommerce {self.store}: {response.headers.get('X-WP-Total', '?')} orders in "
                f"{','.join(self.settings.statuses)}" + (f", newest #{newest}" if newest else ""))

    # -- mapping -----------------------------------------------------------------------------

    def not_polled(self, order: Order) -> str | None:
        if order.status in self.settings.statuses:
            return None
        return f"status {order.status!r} is not in WOOCOMMERCE_STATUSES ({','.join(self.settings.statuses)})"

    def parse(self, raw: dict[str, Any]) -> Order:
        if raw.get("id") in (None, ""):
            raise MalformedOrder("order has no id")
        billing = _address(_object(raw, "billing"), "billing")
        shipping = _address(_object(raw, "shipping"), "shipping")
        line_items = _array(raw, "line_items")
        items = tuple(self._item(item, i) for i, item in enumerate(line_items))
        shipping_lines = _array(raw, "shipping_lines")
        status = raw.get("status")
        if not isinstance(status, str):
            raise MalformedOrder(f"status is not text: {status!r}")
        modified = gmt(raw.get("date_modified_gmt"), "date_modified_gmt", required=True)
        return Order(
            source=self.name,
            store=self.store,
            id=str(raw["id"]),
            number=str(raw.get("number") or raw["id"]),
            key=str(raw.get("order_key") or ""),
            status=status,
            created_at=gmt(raw.get("date_created_gmt"), "date_created_gmt", required=True),
            modified_at=modified,
            paid_at=gmt(raw.get("date_paid_gmt"), "date_paid_gmt"),
            completed_at=gmt(raw.get("date_completed_gmt"), "date_completed_gmt"),
            cancelled_at=modified if status == "cancelled" else None,
            currency=_currency(raw.get("currency")),
            total=money(raw.get("total"), "total", negative=False),
            subtotal=sum((item_subtotal(i) for i in line_items), Decimal("0")),
            tax=money(raw.get("total_tax"), "total_tax"),
            shipping=money(raw.get("shipping_total"), "shipping_total"),
            shipping_tax=money(raw.get("shipping_tax"), "shipping_tax"),
            discount=money(raw.get("discount_total"), "discount_total"),
            fees=tuple(Fee(name=str(f.get("name") or ""), total=money(f.get("total"), "fee_lines.total"),
                           tax=money(f.get("total_tax"), "fee_lines.total_tax")) for f in _array(raw, "fee_lines")),
            coupons=tuple(Coupon(code=str(c.get("code") or ""), discount=money(c.get("discount"), "coupon_lines.discount"))
                          for c in _array(raw, "coupon_lines")),
            customer=Customer(
                id=str(raw["customer_id"]) if raw.get("customer_id") else None,
                email=billing.email,
                first_name=billing.first_name or shipping.first_name,
                last_name=billing.last_name or shipping.last_name,
                phone=billing.phone or shipping.phone,
                username=billing.email,
            ),
            billing=billing,
            shipping_address=None if shipping.is_empty else shipping,
            items=items,
            payment_method=str(raw.get("payment_method_title") or raw.get("payment_method") or ""),
            shipping_method=str(shipping_lines[0].get("method_title") or "") if shipping_lines else "",
            note=str(raw.get("customer_note") or ""),
            needs_shipping=bool(shipping_lines),
        )

    def _item(self, item: dict[str, Any], index: int) -> LineItem:
        count = quantity(item.get("quantity"), f"line_items[{index}].quantity")
        subtotal = item_subtotal(item)
        unit = subtotal / count if count else Decimal("0")
        exponent = subtotal.as_tuple().exponent
        if isinstance(exponent, int) and exponent < 0:
            unit = unit.quantize(Decimal(1).scaleb(exponent))
        product_id = item.get("product_id") or None
        weight = self.weights.weight(product_id, item.get("variation_id"))
        options = tuple(
            _option(m) for m in item.get("meta_data") or []
            if isinstance(m, dict) and not str(m.get("key", "")).startswith("_") and isinstance(m.get("value"), str | int | float)
        )
        return LineItem(
            id=str(item.get("id") or index),
            name=html.unescape(str(item.get("name") or "")),
            quantity=count,
            unit_price=unit,
            total=money(item.get("total"), f"line_items[{index}].total"),
            tax=money(item.get("total_tax"), f"line_items[{index}].total_tax"),
            sku=str(item.get("sku") or ""),
            product_id=str(product_id) if product_id else None,
            variant_id=str(item["variation_id"]) if item.get("variation_id") else None,
            url=f"{self.settings.url}/?post_type=product&p={product_id}" if product_id else "",
            image_url=str((item.get("image") or {}).get("src") or ""),
            options=options,
            weight=weight,
            weight_unit=(self.weights.unit or "") if weight is not None else "",
        )


def _option(meta: dict[str, Any]) -> Option:
    """A variation attribute. Older stores send no display_key: `pa_color` (an attribute taxonomy) reads "Color"."""
    key = str(meta.get("key") or "")
    name = meta.get("display_key") or (key[3:].replace("-", " ").replace("_", " ").title() if key.startswith("pa_") else key)
    value = meta.get("display_value")
    value = value if isinstance(value, str) and value else str(meta.get("value"))
    return Option(name=html.unescape(str(name)), value=html.unescape(_strip_tags(value)))


def _strip_tags(text: str) -> str:
    """display_value can be HTML (WooCommerce wraps it in <p>…</p>)."""
    return re.sub(r"<[^>]+>", "", text).strip()


def item_subtotal(item: dict[str, Any]) -> Decimal:
    return money(item.get("subtotal"), "line_items.subtotal")


def _currency(value: Any) -> str:
    if value in (None, ""):
        raise MalformedOrder("currency is missing")
    code = str(value).strip().upper()
    if not isinstance(value, str) or len(code) != 3 or not code.isascii() or not code.isalpha():
        raise MalformedOrder(f"currency is not an ISO 4217 code: {value!r}")
    return code


def _object(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if value in (None, "", []):  # PHP's json_encode writes an empty array for an empty object
        return {}
    if not isinstance(value, dict):
        raise MalformedOrder(f"{key} is not an object: {type(value).__name__}")
    return value


def _array(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedOrder(f"{key} is not an array: {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise MalformedOrder(f"{key}[{index}] is not an object: {type(item).__name__}")
    return value


def _address(data: dict[str, Any], field: str) -> Address:
    def text(key: str) -> str:
        value = data.get(key)
        if isinstance(value, dict | list):
            raise MalformedOrder(f"{field}.{key} is not text: {type(value).__name__}")
        return "" if value is None else str(value).strip()

    return Address(
        first_name=text("first_name"), last_name=text("last_name"), company=text("company"),
        address_1=text("address_1"), address_2=text("address_2"), city=text("city"), state=text("state"),
        postcode=text("postcode"), country=text("country").upper(), phone=text("phone"), email=text("email"),
    )


def _bad_signature(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "invalid signature" in str(body.get("message") or "").lower()


def _same_address(a: str, b: str) -> bool:
    """Scheme, host and port (with the scheme's default port) and path, compared as a signature sees them."""
    def key(url: str) -> tuple[str, str, int | None, str]:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
        return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path.rstrip("/")
    return key(a) == key(b)


def _modified(raw: dict[str, Any]) -> datetime | None:
    try:
        return gmt(raw.get("date_modified_gmt"), "date_modified_gmt")
    except MalformedOrder:
        return None


def _int_header(response: requests.Response, name: str, default: int) -> int:
    try:
        return int(response.headers.get(name, default))
    except (TypeError, ValueError):
        return default


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "").strip()[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("code") or body)[:300]
    return str(body)[:300]


SPEC = Spec(
    kind="source",
    name="woocommerce",
    title="WooCommerce",
    adapter=WooCommerce,
    from_env=from_env,
    enable_variables=("WOOCOMMERCE_URL", "WOOCOMMERCE_CONSUMER_KEY", "WOOCOMMERCE_CONSUMER_SECRET"),
    credential_variables=("WOOCOMMERCE_CONSUMER_KEY", "WOOCOMMERCE_CONSUMER_SECRET"),
    url_variables=("WOOCOMMERCE_URL",),
    preview_settings=lambda: WooCommerceSettings(url="https://store.invalid", consumer_key=Secret("ck_preview"),
                                                 consumer_secret=Secret("cs_preview")),
    preview_input="the order as GET /wp-json/wc/v3/orders/{id} returns it",
    code="wc",
    platform="woocommerce",
    fulfilment=fulfilment,
)
