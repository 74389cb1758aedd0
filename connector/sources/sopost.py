"""SoPost: sample orders taken in by webhook (shared/api-docs/sopost-crm-integration-guide.txt).

SoPost posts an `OrderEvent` (`event_id`, `event`, `order_id`, `activity_id`) whenever an order's
status changes; the listener (connector.web) stores it in the inbox and the intake job
(connector.sopost_intake) reads the order, `GET {SOPOST_API_URL}/orders/{order_id}` with HTTP Basic
(`SOPOST_API_KEY`:`SOPOST_API_SECRET`), deciding on the status it reads. This module is the settings,
that client (the one outcome policy, connector.outcomes) and `parse`: SoPost's order → `Order`.

Mapping (the guide's order of fields): `id` → id (sonarID's key `sp_<id>`), `short_id` → number,
`activity_id` → a tag, the address (`territory` ISO 3166-1 alpha-3 → alpha-2 with pycountry,
`district` → address line 3: it is a county, not a state code), `full_name` split into first and last
names (nameparser), `email`, `identity` → the customer's id, `telephone`, `line_items` (one sample per
stock partition), `status`, `consents` and `custom_questions` kept whole. SoPost's samples are free
and it sends no money: none is invented (`Spec.priced` False, so destinations leave money out), and
SoPost ships them itself (nothing for a fulfilment destination to ship).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pycountry
import tenacity
from nameparser import HumanName

from connector import USER_AGENT, outcomes, redaction, tls
from connector.adapters import ConfigError, Reader, Secret, Spec
from connector.orders import Address, Answer, Consent, Customer, LineItem, MalformedOrder, Option, Order
from connector.outcomes import Outcome, classify_exception, classify_status, retry_after
from connector.sources.base import (
    Page,
    Source,
    SourceAuthError,
    SourceConfigError,
    SourceError,
    TransientSourceError,
)

log = logging.getLogger("connector.sources.sopost")

NAME = "sopost"
CREDENTIALS = "SOPOST_API_KEY / SOPOST_API_SECRET"
_SECRET_PATH = re.compile(r"^[A-Za-z0-9._~-]{16,200}$")  # one URL path segment, long enough not to be guessed
NIL_ORDER = "00000000-0000-0000-0000-000000000000"  # `check` reads it: a 404 proves the credentials


@dataclass(frozen=True)
class SoPostSettings:
    api_url: str
    api_key: Secret
    api_secret: Secret
    webhook_secret: Secret
    organisation_id: str | None = None
    statuses: tuple[str, ...] = ("APPROVED",)
    consent_ids: tuple[str, ...] = ()
    require_consent: bool = True
    destinations: tuple[str, ...] = ("sonarid",)


def from_env(r: Reader) -> SoPostSettings | None:
    names = ("SOPOST_API_URL", "SOPOST_API_KEY", "SOPOST_API_SECRET", "SOPOST_WEBHOOK_SECRET")
    if not r.all_or_none(names, "SoPost"):
        return None
    secret = r.secret("SOPOST_WEBHOOK_SECRET")
    if secret is None or not _SECRET_PATH.match(secret):
        raise ConfigError("SOPOST_WEBHOOK_SECRET", "16 or more letters, digits or . _ ~ - (one URL path segment; "
                          "e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    from connector.registry import names as adapter_names  # the registry imports this module

    destinations = r.words("SOPOST_DESTINATIONS", ("sonarid",))
    known = adapter_names("destination")
    unknown = [d for d in destinations if d not in known]
    if unknown:
        raise ConfigError("SOPOST_DESTINATIONS", f"destination names among {', '.join(known)}", ",".join(unknown))
    key, api_secret = r.secret("SOPOST_API_KEY"), r.secret("SOPOST_API_SECRET")
    redaction.register_pair(key, api_secret)  # their HTTP Basic form too
    return SoPostSettings(
        api_url=r.url("SOPOST_API_URL") or "",
        api_key=key or Secret(""),
        api_secret=api_secret or Secret(""),
        webhook_secret=secret,
        organisation_id=r.text("SOPOST_ORGANISATION_ID"),
        statuses=tuple(s.upper() for s in r.words("SOPOST_STATUSES", ("APPROVED",))),
        consent_ids=r.words("SOPOST_CONSENT_IDS", ()),
        require_consent=r.flag("SOPOST_REQUIRE_CONSENT", True),
        destinations=destinations,
    )


def fulfilment(status: str, _status_id: int | None) -> str:
    """SoPost's order statuses in `orders.Fulfilment` words."""
    upper = status.upper()
    if upper == "PENDING":
        return "on_hold"
    if upper == "APPROVED":
        return "unfulfilled"
    if upper == "REJECTED":
        return "cancelled"
    if upper in ("DISPATCHED", "SHIPPED", "DELIVERED"):
        return "shipped"
    return "other"


QUICK_WAIT = 2.0  # a transient failure asking to wait longer than this waits in the inbox, not in the job


def _quick(state: tenacity.RetryCallState) -> bool:
    """Try again at once: a transient failure that asks for no longer than `QUICK_WAIT`."""
    failed = state.outcome.exception() if state.outcome is not None else None
    return isinstance(failed, TransientSourceError) and (failed.retry_after or 0.0) <= QUICK_WAIT


class NotFound(SourceError):
    """SoPost has no such order (404), or does not let us see it."""


def _text(raw: dict[str, Any], key: str, where: str = "", *, required: bool = False) -> str:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise MalformedOrder(f"{where}{key} is missing")
        return ""
    if not isinstance(value, str):
        raise MalformedOrder(f"{where}{key} is not text: {value!r}"[:200])
    return value.strip()


def _list(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MalformedOrder(f"{key} is not a list of objects")
    return value


def country(territory: str) -> str:
    """ISO 3166-1 alpha-2 for SoPost's `territory` (alpha-3, "GBR"; an alpha-2 is taken as it is)."""
    if not territory:
        return ""
    code = territory.strip().upper()
    found = pycountry.countries.get(alpha_3=code) if len(code) == 3 else (
        pycountry.countries.get(alpha_2=code) if len(code) == 2 else None)
    if found is None:
        raise MalformedOrder(f"address.territory is not an ISO 3166-1 country code: {territory!r}"[:200])
    return str(found.alpha_2)


def split_name(full_name: str) -> tuple[str, str]:
    """("Joe", "Bloggs") for "Joe Bloggs" (nameparser: titles dropped, middle names go with the first)."""
    name = HumanName(full_name)
    first = " ".join(p for p in (name.first, name.middle) if p)
    last = " ".join(p for p in (name.last, name.suffix) if p)
    return first, last


def _time(raw: dict[str, Any], key: str) -> datetime | None:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedOrder(f"{key} is not an ISO 8601 time: {value!r}"[:200]) from None
    if parsed.tzinfo is None:
        raise MalformedOrder(f"{key} has no time zone: {value!r}"[:200])
    return parsed


def parse_order(raw: dict[str, Any], *, store: str, at: datetime | None = None) -> Order:
    """SoPost's order (GET /orders/{id}) → `Order`; `at` (the first event's arrival) stands for the dates SoPost does not send."""
    if not isinstance(raw, dict):
        raise MalformedOrder("the order is not a JSON object")
    at = at or datetime.now(UTC)
    address = raw.get("address") or {}
    if not isinstance(address, dict):
        raise MalformedOrder("address is not an object")
    first, last = split_name(_text(raw, "full_name"))
    email = _text(raw, "email")
    telephone = _text(raw, "telephone")
    place = Address(
        first_name=first,
        last_name=last,
        address_1=_text(address, "line_1", "address."),
        address_2=_text(address, "line_2", "address."),
        city=_text(address, "town", "address."),
        address_3=_text(address, "district", "address."),
        country=country(_text(address, "territory", "address.")),
        postcode=_text(address, "postcode", "address."),
        phone=telephone,
        email=email,
    )
    activity = _text(raw, "activity_id")
    return Order(
        source=NAME,
        store=store,
        id=_text(raw, "id", required=True),
        number=_text(raw, "short_id") or _text(raw, "id"),
        tags=(f"activity:{activity}",) if activity else (),
        billing=place,
        shipping_address=place,
        customer=Customer(id=_text(raw, "identity") or None, email=email, first_name=first, last_name=last,
                          phone=telephone),
        items=tuple(LineItem(id=_text(item, "stock_partition_id", "line_items[]."), name="SoPost sample", quantity=1,
                             unit_price=Decimal("0"), product_id=_text(item, "stock_partition_id", "line_items[].") or None)
                    for item in _list(raw, "line_items")),
        status=_text(raw, "status", required=True).upper(),
        consents=tuple(Consent(id=_text(c, "consent_id", "consents[]."), name=_text(c, "consent_name", "consents[]."),
                               data_handler=_text(c, "data_handler", "consents[]."),
                               status=_text(c, "status", "consents[].").upper())
                       for c in _list(raw, "consents")),
        answers=tuple(Answer(question_id=_text(q, "question_id", "custom_questions[]."),
                             question=_text(q, "question_text", "custom_questions[]."),
                             answers=tuple(Option(name=_text(a, "answer_id", "answer[]."),
                                                  value=_text(a, "answer_text", "answer[]."))
                                           for a in _list(q, "answer")))
                      for q in _list(raw, "custom_questions")),
        created_at=_time(raw, "created_at") or at,
        modified_at=_time(raw, "updated_at") or _time(raw, "created_at") or at,
        currency="",  # samples are free: SoPost sends no money, and none is made up
        total=Decimal("0"),
        subtotal=Decimal("0"),
        needs_shipping=False,  # SoPost ships its samples itself
    )


def consent_problem(order: Order, settings: SoPostSettings) -> str | None:
    """Why the order may not be sent on for lack of marketing consent (SOPOST_REQUIRE_CONSENT); None when it may."""
    if not settings.require_consent:
        return None
    approved = [c for c in order.consents if c.status == "APPROVED"
                and (not settings.consent_ids or c.id in settings.consent_ids)]
    if approved:
        return None
    which = f" of SOPOST_CONSENT_IDS ({', '.join(settings.consent_ids)})" if settings.consent_ids else ""
    return f"no APPROVED marketing consent{which} on the SoPost order (SOPOST_REQUIRE_CONSENT=true)"


class SoPost(Source):
    """SoPost's API: read an order, create a webhook. Not polled (`Spec.polled` False): events arrive by webhook."""

    name = NAME
    settings: SoPostSettings

    def __init__(self, settings: SoPostSettings, *, timeout: float = 30.0, trust: tls.Trust | None = None) -> None:
        super().__init__(settings, timeout=timeout, trust=trust)
        self.trust = trust or tls.Trust()
        self.timeout = timeout
        self._client: httpx.Client | None = None

    @property
    def store(self) -> str:
        return self.settings.organisation_id or urlsplit(self.settings.api_url).netloc or "sopost"

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.settings.api_url, auth=(self.settings.api_key, self.settings.api_secret),
                headers={"Accept": "application/json", "User-Agent": USER_AGENT}, follow_redirects=False,
                timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)), verify=self.trust.context())
        return self._client

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, classified by the one outcome policy; a transient failure raises TransientSourceError."""
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            outcome = classify_exception(exc)
            if outcome is Outcome.CONFIG:
                raise SourceConfigError(tls.failure(exc, self.settings.api_url, "SOPOST_API_URL", self.trust)
                                        or f"TLS failure at SOPOST_API_URL: {exc}") from None
            raise TransientSourceError(f"SoPost {method} {path}: {type(exc).__name__}: {exc}") from None
        outcome = classify_status(response.status_code)
        if outcome is Outcome.DELIVERED:
            return response
        words = response.text[:300]
        if outcome is Outcome.AUTH:
            raise SourceAuthError(f"SoPost refused our credentials (HTTP {response.status_code}): check {CREDENTIALS}")
        if outcome is Outcome.TRANSIENT:
            raise TransientSourceError(f"SoPost {method} {path}: HTTP {response.status_code} {words}",
                                       retry_after=retry_after(response.status_code, response.headers))
        if response.status_code == 404:
            raise NotFound(f"SoPost has no order at {path} (HTTP 404)")
        raise SourceError(f"SoPost {method} {path}: HTTP {response.status_code} {words}")

    def fetch(self, order_id: str, *, attempts: int = 2) -> dict[str, Any]:
        """The order as `GET /orders/{order_id}` returns it (quick tries for transient failures)."""
        path = f"/orders/{quote(order_id, safe='')}"
        quick = outcomes.retrying(_quick, attempts=attempts, base=0.2, cap=QUICK_WAIT, log=log)
        response: httpx.Response = quick(self._request, "GET", path)
        try:
            body = response.json()
        except ValueError:
            raise TransientSourceError(f"SoPost GET {path}: the answer is not JSON") from None
        if not isinstance(body, dict):
            raise SourceError(f"SoPost GET {path}: the answer is not an order object")
        return body

    def register_webhook(self, url: str, *, campaign: str | None = None) -> dict[str, Any]:
        """`POST /webhooks` as the guide shows: `OrderEvent`, for the organisation or one campaign."""
        if campaign:
            entity_type, entity_id = "Campaign", campaign
        elif self.settings.organisation_id:
            entity_type, entity_id = "Organisation", self.settings.organisation_id
        else:
            raise ConfigError("SOPOST_ORGANISATION_ID", "the organisation's UUID (or give --campaign ID)")
        response = self._request("POST", "/webhooks", json={"url": url, "events": ["OrderEvent"],
                                                            "entity_type": entity_type, "entity_id": entity_id})
        try:
            body = response.json()
        except ValueError:
            body = {}
        return body if isinstance(body, dict) else {}

    def probe(self) -> str:
        """One harmless authenticated read: an order id that cannot exist; 404 means the credentials were taken."""
        with contextlib.suppress(NotFound):
            self.fetch(NIL_ORDER, attempts=1)
        return (f"SoPost API {self.settings.api_url}: credentials accepted (GET /orders/{NIL_ORDER} answered 404 "
                f"as expected); webhook path set; statuses sent on {','.join(self.settings.statuses)}, to "
                f"{','.join(self.settings.destinations)}; consent "
                f"{'required' if self.settings.require_consent else 'not required'}")

    # -- Source ------------------------------------------------------------------------------

    def modified(self, since: datetime) -> Iterator[Page]:
        return iter(())  # not polled: its events arrive by webhook

    def created(self, since: datetime, until: datetime | None) -> Iterator[Page]:
        return iter(())  # `backfill --source sopost --ids FILE` reads orders by id instead

    def parse(self, raw: dict[str, Any], at: datetime | None = None) -> Order:
        return parse_order(raw, store=self.store, at=at)

    def not_polled(self, order: Order) -> str | None:
        if order.status in self.settings.statuses:
            return None
        return f"status {order.status} is not in SOPOST_STATUSES ({','.join(self.settings.statuses)})"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


SPEC = Spec(
    kind="source",
    name=NAME,
    title="SoPost",
    adapter=SoPost,
    from_env=from_env,
    enable_variables=("SOPOST_API_URL", "SOPOST_API_KEY", "SOPOST_API_SECRET", "SOPOST_WEBHOOK_SECRET"),
    credential_variables=("SOPOST_API_KEY", "SOPOST_API_SECRET"),
    url_variables=("SOPOST_API_URL",),
    preview_settings=lambda: SoPostSettings(api_url="https://sopost.invalid", api_key=Secret("preview"),
                                            api_secret=Secret("preview"), webhook_secret=Secret("preview-webhook-secret")),
    preview_input="the order as GET /orders/{id} returns it",
    code="sp",
    platform="",
    fulfilment=fulfilment,
    polled=False,
    priced=False,
)
