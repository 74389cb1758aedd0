"""The canonical order: what every source produces and every destination reads.

It carries what the five vendor documents in shared/api-docs need. Money is `Decimal`
(serialised as a string, never a float); times are timezone-aware UTC.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer


class MalformedOrder(ValueError):
    """A platform order that cannot be turned into an `Order`; the message says why."""


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(_utc)]
Money = Annotated[Decimal, PlainSerializer(str, return_type=str, when_used="json")]


#: no order in any currency reaches a quadrillion: a value at or beyond it is corrupt data, not money
MAX_AMOUNT = Decimal(10) ** 15
MAX_QUANTITY = 10**9  # nor does a line reach a billion units


def quantity(value: Any, field: str) -> int:
    """A line's quantity: a whole JSON number from 0 up to MAX_QUANTITY (not text, not true/false)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_QUANTITY:
        raise MalformedOrder(f"{field} is not a whole number from 0 to 10^9: {value!r}"[:200])
    return value


def money(value: Any, field: str, *, negative: bool = True) -> Decimal:
    """Decimal from a platform money value ("150.0000", "8", 12.5 as text); never via float arithmetic.

    Refused (`MalformedOrder`): text that is not a number, NaN and infinities, 10^15 or more either
    way, and with ``negative=False`` (an order's total) anything below zero.
    """
    if value is None or value == "":
        return Decimal("0")
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise MalformedOrder(f"{field} is not a number: {value!r}")
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise MalformedOrder(f"{field} is not a number: {value!r}") from None
    if not result.is_finite():
        raise MalformedOrder(f"{field} is not a finite number: {value!r}")
    if abs(result) >= MAX_AMOUNT:
        raise MalformedOrder(f"{field} is out of range (10^15 or more): {_short(value)}")
    if result < 0 and not negative:
        raise MalformedOrder(f"{field} is negative: {value!r}")
    return result


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}… ({len(text)} characters)"


#: where an order stands, in words every destination understands (each source maps its own statuses;
#: "unfulfilled" = paid and nothing shipped yet, "other" = a state with no such meaning, e.g. a custom status)
Fulfilment = Literal["unpaid", "on_hold", "unfulfilled", "partially_shipped", "shipped", "awaiting_pickup",
                     "cancelled", "refunded", "other"]
TO_SHIP: frozenset[Fulfilment] = frozenset({"unfulfilled", "partially_shipped"})


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(_Model):
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    address_1: str = ""
    address_2: str = ""
    address_3: str = ""
    city: str = ""
    state: str = ""
    postcode: str = ""
    country: str = ""  # ISO 3166-1 alpha-2
    phone: str = ""
    email: str = ""

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def is_empty(self) -> bool:
        return not any((self.address_1, self.city, self.postcode, self.country, self.name))


class Customer(_Model):
    id: str | None = None  # None for a guest
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    username: str = ""


class Option(_Model):
    name: str
    value: str


class LineItem(_Model):
    id: str
    name: str
    quantity: int
    unit_price: Money
    total: Money = Decimal("0")
    tax: Money = Decimal("0")
    sku: str = ""
    product_id: str | None = None
    variant_id: str | None = None
    url: str = ""
    image_url: str = ""
    options: tuple[Option, ...] = ()
    weight: Money | None = None
    weight_unit: str = ""
    upc: str = ""


class Fee(_Model):
    name: str
    total: Money
    tax: Money = Decimal("0")


class Coupon(_Model):
    code: str
    discount: Money


class Consent(_Model):
    """A marketing consent the customer answered (SoPost): its id, name, who holds the list, and the answer."""

    id: str
    name: str = ""
    data_handler: str = ""
    status: str = ""  # "APPROVED" when given


class Answer(_Model):
    """A custom question answered with the order (SoPost), every answer kept."""

    question_id: str
    question: str = ""
    answers: tuple[Option, ...] = ()  # name = the answer's id, value = its text
LoyaltyOutcome = Literal["member", "not_member", "multiple_matches", "refused", "failed"]


class Loyalty(_Model):
    """What the loyalty look-up (connector.lookups.voyado) said about the order's customer: these fields only.

    `member`: a contact (its id, member number, level, bonus points, whether registration is complete);
    `not_member`: no contact for the e-mail; `multiple_matches`: several, none guessed; `refused`: the look-up
    was refused for this e-mail (400/422); `failed`: transient failures until the retry horizon."""

    outcome: LoyaltyOutcome
    contact_id: str = ""
    member_number: str = ""
    level: str = ""
    bonus_points: Money | None = None
    registration_complete: bool | None = None

    @property
    def is_member(self) -> bool:
        return self.outcome == "member"

    def tags(self) -> tuple[str, ...]:
        """("voyado-member", "voyado-level-gold") for a member; () otherwise (nothing is said of a non-member)."""
        if not self.is_member:
            return ()
        slug = "-".join("".join(c if c.isalnum() else " " for c in self.level.lower()).split())
        return ("voyado-member", *((f"voyado-level-{slug}",) if slug else ()))


class Order(_Model):
    source: str  # "woocommerce" | "bigcommerce"
    store: str  # the store's identity: host/path for WooCommerce, store hash for BigCommerce
    id: str  # the platform's order id
    number: str
    key: str = ""  # the platform's order key, when it has one
    status: str  # the platform's status slug ("processing", "awaiting_fulfillment")
    status_id: int | None = None
    created_at: UTCDateTime
    modified_at: UTCDateTime
    paid_at: UTCDateTime | None = None
    completed_at: UTCDateTime | None = None
    cancelled_at: UTCDateTime | None = None
    currency: str
    total: Money
    subtotal: Money
    tax: Money = Decimal("0")
    shipping: Money = Decimal("0")
    shipping_tax: Money = Decimal("0")
    discount: Money = Decimal("0")
    fees: tuple[Fee, ...] = ()
    coupons: tuple[Coupon, ...] = ()
    customer: Customer = Field(default_factory=Customer)
    billing: Address = Field(default_factory=Address)
    shipping_address: Address | None = None
    items: tuple[LineItem, ...] = ()
    payment_method: str = ""
    shipping_method: str = ""
    note: str = ""
    needs_shipping: bool = True
    tags: tuple[str, ...] = ()
    consents: tuple[Consent, ...] = ()  # marketing consents (SoPost); none for the stores
    answers: tuple[Answer, ...] = ()  # custom questions answered with the order (SoPost)
    #: the customer's loyalty membership, attached when a delivery is claimed (never part of the snapshot or its hash)
    loyalty: Loyalty | None = Field(default=None, exclude=True)

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.store}:{self.id}"

    # Facts the source declares (its SPEC in connector.registry), derived rather than stored, so every
    # snapshot in a ledger, however old, has them and its content hash is unchanged.

    @property
    def source_code(self) -> str:
        """The source's short code ("wc", "bc"); the source name for a source that declares none."""
        spec = _source_spec(self.source)
        return spec.code if spec is not None and spec.code else self.source

    @property
    def platform_key(self) -> str:
        """"wc_727": the order as a destination that serves several stores and platforms knows it."""
        return f"{self.source_code}_{self.id}"

    @property
    def platform(self) -> str:
        """The commerce platform the order was placed on ("woocommerce", "bigcommerce"); "" when none."""
        spec = _source_spec(self.source)
        return spec.platform if spec is not None else ""

    @property
    def priced(self) -> bool:
        """False for a source whose orders carry no money (SoPost's free samples): destinations leave money out."""
        spec = _source_spec(self.source)
        return spec.priced if spec is not None else True

    @property
    def fulfilment(self) -> Fulfilment:
        """Where the order stands (`Fulfilment`), from its status as its source reads it."""
        spec = _source_spec(self.source)
        if spec is None or spec.fulfilment is None:
            return "other"
        return cast(Fulfilment, spec.fulfilment(self.status, self.status_id))

    def content_hash(self) -> str:
        """Identifies the order's content, ignoring `modified_at` (which moves on mere views)."""
        empty = {name for name in ("consents", "answers") if not getattr(self, name)}  # as before they existed
        body = self.model_dump_json(exclude={"modified_at", *empty})
        return hashlib.sha256(body.encode()).hexdigest()[:32]


def _source_spec(name: str) -> Any:
    from connector.registry import spec  # the adapters import this module: looked up when first asked

    try:
        return spec(name, "source")
    except KeyError:
        return None


@dataclass(frozen=True)
class Rejected:
    """A platform order that could not be read, kept with its reason.

    Malformed (the default): recorded with `dead` deliveries. `transient`: its details failed to
    load this time (5xx, a captcha page): recorded with no deliveries and read again by id at
    each later poll (`to_read_again`) until it loads, then it goes on like any other order.
    """

    order_id: str
    number: str
    reason: str
    raw: str
    modified_at: datetime | None = None
    transient: bool = False
