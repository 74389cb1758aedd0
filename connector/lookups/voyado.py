"""Voyado: POST {VOYADO_API_URL}/api/v1/contact-details (shared/api-docs/voyado-contact-details-api.txt).

Bearer key; the body carries exactly one key, the order's e-mail trimmed and lower-cased (the document's
example sends three, but its own 422 says only one of shopify_customer_id, voyado_contact_id, email is
allowed). What each documented answer means, through the one outcome policy (`connector.outcomes`):

| answer                                           | class (outcomes) | the look-up                               |
|--------------------------------------------------|------------------|-------------------------------------------|
| 200 with a contact                               | delivered        | `member`: the kept fields stored          |
| 404 ContactNotFound / CustomerNotFoundInShopify  | (an answer)      | `not_member`, stored                      |
| 404 UrlNotFound (or any other 404)               | configuration    | look-ups paused, naming VOYADO_API_URL    |
| 401 Unauthorized, 403 Unauthenticated            | auth             | look-ups paused, naming VOYADO_API_KEY    |
| 409 MultipleMatches                              | permanent        | `multiple_matches`, recorded, never guessed |
| 400 InvalidContactId / InvalidEmailAddress, 422  | permanent        | `refused` for that e-mail, not retried    |
| 429 TooManyRequests, 500 UnexpectedError, 5xx    | transient        | retried (backoff, Retry-After honoured)   |

Of a contact only these are kept: `voyadoContactId`, `attributes.memberNumber`, `memberLevel`, `bonusPoints`
and `attributes.isRegistrationCompleted`. Names, addresses, phone numbers, promotions and vouchers are never
stored nor logged. `memberLevel` is `null` in the document's example; a string is kept as it is, an object by
its `name` (else `id`): the document does not show its shape.

The rate limit: the document's leaky bucket (60, refilled 1 per second) is shared with the store's own use of
the key, so we spend VOYADO_RATE per second (default 0.8) with a burst of at most the same share of the
bucket (0.8 × 60 = 48): the store keeps a fifth of both. The limiter is pyrate-limiter's GCRA, a leaky bucket
kept as one theoretical arrival time; `connector.lookups.limiter` keeps that number in the ledger, so every
thread and process (and instance) on one ledger spends one bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from pyrate_limiter import GCRA, Limiter, Rate, StateBucket

from connector import USER_AGENT, redaction
from connector.adapters import ConfigError, Reader, Secret, Spec
from connector.orders import Loyalty, Order
from connector.outcomes import Outcome, classify_exception, classify_status, retry_after

VENDOR = "Voyado"
PATH = "/api/v1/contact-details"
DEFAULT_URL = "https://live.voyado.eastsideapps.io"
BUCKET_SIZE = 60  # the document's leaky bucket
BUCKET_REFILL = 1.0  # per second
MAX_SHARE = 0.8  # of the bucket's size that our burst may take, at most
NOT_A_MEMBER = frozenset({"ContactNotFound", "CustomerNotFoundInShopify"})
FRESH_FOR = 86400.0  # seconds an answer is reused for the same e-mail (once per customer per day at most)


@dataclass(frozen=True)
class VoyadoSettings:
    api_key: Secret
    url: str = DEFAULT_URL
    wait: float = 120.0  # seconds a destination that carries the membership waits for it (VOYADO_WAIT)
    rate: float = 0.8  # look-ups per second (VOYADO_RATE)

    @property
    def burst(self) -> int:
        """Look-ups that may go at once: our share of the bucket, as VOYADO_RATE is our share of its refill."""
        return max(1, math.floor(BUCKET_SIZE * min(MAX_SHARE, self.rate / BUCKET_REFILL)))

    def seconds_for(self, lookups: int) -> float:
        """The least time `lookups` take under our limiter, from a full bucket."""
        return max(0, lookups - self.burst) / self.rate


def from_env(r: Reader) -> VoyadoSettings | None:
    key = r.secret("VOYADO_API_KEY")
    if key is None:
        return None
    rate = r.number("VOYADO_RATE", 0.8, minimum=0)
    if rate <= 0:
        raise ConfigError("VOYADO_RATE", "look-ups per second, a number > 0", str(rate))
    return VoyadoSettings(api_key=key, url=r.url("VOYADO_API_URL", DEFAULT_URL) or DEFAULT_URL,
                          wait=r.number("VOYADO_WAIT", 120.0, minimum=0), rate=rate)


def normalise(email: str) -> str:
    """The look-up key: the e-mail trimmed and lower-cased ("" when there is none)."""
    return email.strip().lower()


def order_email(order: Order) -> str:
    """The order's customer e-mail as the look-up key; "" when the order has none."""
    return normalise(order.customer.email or order.billing.email)


def limiter(settings: VoyadoSettings) -> Limiter:
    """VOYADO_RATE per second with a burst of `settings.burst`, in this process (the service shares one through
    the ledger instead: `connector.lookups.limiter.shared`)."""
    per_ms = 1_000_000  # a rate of limit / 1000 s keeps fractional rates (0.8/s = 800 per 1000 s) exact
    rate = Rate(max(1, round(settings.rate * 1000)), per_ms, burst=settings.burst)
    return Limiter(StateBucket([rate], algorithm=GCRA()))


@dataclass(frozen=True)
class Answer:
    """One look-up's result as the outcome policy classes it, and what to keep of it."""

    outcome: Outcome  # the policy's class (connector.outcomes); with `loyalty`, a final answer to keep
    status_code: int | None = None
    word: str = ""  # Voyado's `message` ("ContactNotFound"), or ours for a failure (redacted)
    loyalty: Loyalty | None = None
    retry_after: float | None = None
    variable: str = ""  # for AUTH / CONFIG: the variable to fix

    @property
    def retryable(self) -> bool:
        return self.outcome.retryable

    @property
    def final(self) -> bool:
        """An answer for this e-mail, stored and reused (member, not a member, multiple matches, refused)."""
        return self.loyalty is not None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _level(value: Any) -> str:
    if isinstance(value, dict):
        return _text(value.get("name") or value.get("id"))
    return _text(value)


def _points(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        points = Decimal(str(value))
    except InvalidOperation:
        return None
    return points if points.is_finite() else None


def contact(body: Any) -> Loyalty:
    """The kept fields of a 200 answer (`{"contact": {...}}`, or the contact itself), in the document's order."""
    found = body.get("contact", body) if isinstance(body, dict) else None
    if not isinstance(found, dict):
        raise ValueError("a 200 answer without a contact object")
    attributes: dict[str, Any] = found["attributes"] if isinstance(found.get("attributes"), dict) else {}
    registered = attributes.get("isRegistrationCompleted")
    return Loyalty(
        outcome="member",
        contact_id=_text(found.get("voyadoContactId")),
        member_number=_text(attributes.get("memberNumber")),
        bonus_points=_points(found.get("bonusPoints", attributes.get("bonusPoints"))),
        level=_level(found.get("memberLevel")),
        registration_complete=registered if isinstance(registered, bool) else None,
    )


def answer_file(body: Any) -> Loyalty:
    """`preview --loyalty FILE`: a saved contact-details answer (a 200 contact, or a 404/409 message) as Loyalty."""
    if isinstance(body, dict) and isinstance(body.get("contact"), dict):
        return contact(body)
    word = body.get("message") if isinstance(body, dict) else None
    if word in NOT_A_MEMBER:
        return Loyalty(outcome="not_member")
    if word == "MultipleMatches":
        return Loyalty(outcome="multiple_matches")
    raise ValueError("expected a contact-details answer: {\"contact\": {...}}, or {\"message\": \"ContactNotFound\"} "
                     "(or CustomerNotFoundInShopify, MultipleMatches)")


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return _text(body.get("message"))[:200] if isinstance(body, dict) else ""


def classify(response: httpx.Response) -> Answer:
    """What Voyado's answer means (the table in the module docstring)."""
    status, word = response.status_code, _message(response)
    outcome = classify_status(status)
    if outcome is Outcome.DELIVERED:
        try:
            return Answer(Outcome.DELIVERED, status, "contact", contact(response.json()))
        except ValueError as exc:
            return Answer(Outcome.PERMANENT, status, f"unreadable contact: {exc}", Loyalty(outcome="refused"))
    if status == 404 and word in NOT_A_MEMBER:
        return Answer(Outcome.PERMANENT, status, word, Loyalty(outcome="not_member"))
    if status == 404:  # UrlNotFound, or a 404 that is not Voyado's answer at all: the URL is wrong
        return Answer(Outcome.CONFIG, status, word or "Not Found", variable="VOYADO_API_URL")
    if outcome is Outcome.AUTH:
        return Answer(Outcome.AUTH, status, word or response.reason_phrase, variable="VOYADO_API_KEY")
    if status == 409:
        return Answer(Outcome.PERMANENT, status, word or "MultipleMatches", Loyalty(outcome="multiple_matches"))
    if outcome is Outcome.PERMANENT:  # 400 InvalidContactId / InvalidEmailAddress, 422, other 4xx
        return Answer(Outcome.PERMANENT, status, word or response.reason_phrase, Loyalty(outcome="refused"))
    return Answer(outcome, status, word or response.reason_phrase, retry_after=retry_after(status, response.headers))


def classify_failure(exc: Exception) -> Answer:
    """A request that got no answer (`outcomes.classify_exception`): a certificate is configuration."""
    outcome = classify_exception(exc)
    if outcome is Outcome.CONFIG:
        return Answer(outcome, word=redaction.redact(f"TLS certificate not verified: {exc}"), variable="VOYADO_API_URL")
    return Answer(outcome, word=redaction.redact(f"{type(exc).__name__}: {exc}"))


class Voyado:
    """The contact-details look-up over httpx (one client per instance, shared by the look-up threads)."""

    name = "voyado"

    def __init__(self, settings: VoyadoSettings) -> None:
        self.settings = settings
        redaction.register_secret(settings.api_key)

    def endpoint(self) -> str:
        return f"{self.settings.url}{PATH}"

    def client(self, timeout: float, verify: Any = True) -> httpx.Client:
        return httpx.Client(timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)), follow_redirects=False,
                            verify=verify, headers={"Authorization": f"Bearer {self.settings.api_key}",
                                                    "Content-Type": "application/json", "Accept": "application/json",
                                                    "User-Agent": USER_AGENT})

    @staticmethod
    def body(email: str) -> dict[str, str]:
        """Exactly one key: the normalised e-mail."""
        return {"email": normalise(email)}

    def look_up(self, client: httpx.Client, email: str) -> Answer:
        try:
            return classify(client.post(self.endpoint(), json=self.body(email)))
        except httpx.TransportError as exc:
            return classify_failure(exc)


SPEC = Spec(
    kind="lookup",
    name="voyado",
    title="Voyado",
    adapter=Voyado,
    from_env=from_env,
    enable_variables=("VOYADO_API_KEY",),
    credential_variables=("VOYADO_API_KEY",),
    url_variables=("VOYADO_API_URL",),
    preview_settings=lambda: VoyadoSettings(api_key=Secret("preview")),
)
