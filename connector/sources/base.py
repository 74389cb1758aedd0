"""What every source is: windows of platform orders, parsed into `Order`s (or `Rejected` with a reason)."""

from __future__ import annotations

import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import tenacity

from connector import outcomes, tls
from connector.formats import duration
from connector.orders import MalformedOrder, Order, Rejected
from connector.redaction import redact
from connector.sources.clock import StoreClock

if TYPE_CHECKING:
    from connector.capabilities import Capabilities

log = logging.getLogger("connector.sources")


class SourceError(Exception):
    """The platform answered in a way we cannot use (the message is already redacted)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class SourceAuthError(SourceError):
    """The platform refused our credentials."""


class SourceConfigError(SourceError):
    """A setting is wrong (a TLS certificate that does not verify): not retried; the message names the variables."""


class TransientSourceError(SourceError):
    """Worth retrying: 429, 5xx, a dropped connection, a non-JSON page from a host's captcha."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Listed:
    """A listed order still to be read in full (`Source.expand`), at the version the listing showed."""

    order_id: str
    modified_at: datetime | None  # None: the listing's modification time is unreadable (never taken from the ledger)
    row: dict[str, Any]


#: (platform order id, platform modification time) → the `Order` the ledger holds for exactly that version
Known = Mapping[tuple[str, datetime], Order]


@dataclass
class Page:
    orders: list[Order | Rejected] = field(default_factory=list)
    seen: int = 0  # platform orders on the page, eligible or not
    unreadable: int = 0  # rows with no usable order id (a string, null, an object without id): logged, not recorded
    forget: list[str] = field(default_factory=list)  # (`again`) order ids no longer to be read: gone or not eligible
    listed: list[Listed] = field(default_factory=list)  # orders still to be read in full: `Source.expand` reads them

    @property
    def versions(self) -> list[tuple[str, datetime]]:
        """The listed orders' (id, modification time): what the ledger is asked whether it holds them already."""
        return [(item.order_id, item.modified_at) for item in self.listed if item.modified_at is not None]


#: a text field longer than this is corrupt data (or abuse), not a name, an address or a note
MAX_TEXT = 10_000
_UNTEXT = re.compile("[\x00\ud800-\udfff]")  # NUL and lone UTF-16 surrogates: no destination can take them


def platform_id(raw: Any) -> str | None:
    """The row's order id when it has a usable one (a positive whole number, as JSON number or text)."""
    value = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii() and int(value) > 0:
        return value.strip()
    return None


def printable(text: str) -> str:
    """`text` safe for the ledger, the logs and JSON: NUL and lone surrogates written as escapes."""
    return _UNTEXT.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def text_problem(value: Any, path: str = "") -> str | None:
    """Why a parsed order's text cannot go anywhere (the first field found), or None."""
    if isinstance(value, str):
        bad = _UNTEXT.search(value)
        if bad:
            what = "a NUL character" if bad.group() == "\x00" else "a lone UTF-16 surrogate"
            return f"{path} contains {what} ({printable(bad.group())} at position {bad.start()}): not text"
        if len(value) > MAX_TEXT:
            return f"{path} is {len(value):,} characters long (more than {MAX_TEXT:,})"
        return None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        where = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
        problem = text_problem(item, where)
        if problem:
            return problem
    return None


@dataclass(frozen=True)
class Estimate:
    """What a backfill will read, said before it starts (for the progress bar)."""

    orders: int  # platform orders the scan will list: what the pages' `seen` adds up to
    eligible: int  # of which in the configured statuses
    requests: int  # HTTP requests expected, at most
    seconds: float | None = None  # the least time those requests take at the platform's rate limit
    note: str = ""  # how the time was worked out, in words

    @property
    def expected(self) -> str:
        """The expected duration for a progress bar: 'expected ≤ 8 min 20 s', or '' when unknown."""
        return "" if self.seconds is None else f"expected ≤ {duration(self.seconds)}"

    def describe(self) -> str:
        text = f"{self.orders} orders to read, {self.eligible} in the configured statuses; up to {self.requests} requests"
        if self.seconds is not None:
            text += f", {self.expected}" + (f" at {self.note}" if self.note else "")
        return text


def retrying(*, attempts: int = 5, max_wait: float = 30.0, multiplier: float = 1.0) -> tenacity.Retrying:
    """The sources' quick tries (`connector.outcomes.retrying`): transient errors only, each logged."""
    return outcomes.retrying(tenacity.retry_if_exception_type(TransientSourceError), attempts=attempts,
                             base=multiplier, cap=max_wait, log=log)


class Source(ABC):
    name: ClassVar[str]
    #: how far back a window must reach at least (a store without modified-date filtering needs more)
    extra_lookback: float = 0.0
    #: what `modified` windows filter by, for the log: "modified", or "created" on a store that cannot filter by it
    window_basis: str = "modified"
    #: the store's clock as the last scan or probe saw it (a fresh one per scan); None: this source cannot tell
    clock: StoreClock | None = None

    def __init__(self, settings: Any, *, timeout: float = 30.0, trust: tls.Trust | None = None) -> None:
        """What every source is built with (`build_sources`): its settings, the HTTP timeout, the CA trust."""
        self.settings = settings

    @property
    @abstractmethod
    def store(self) -> str:
        """The store's identity in the ledger."""

    @abstractmethod
    def modified(self, since: datetime) -> Iterator[Page]:
        """Eligible orders modified after `since`, page by page."""

    @abstractmethod
    def created(self, since: datetime, until: datetime | None) -> Iterator[Page]:
        """Eligible orders created in [since, until), page by page, oldest first (backfill)."""

    @abstractmethod
    def parse(self, raw: dict[str, Any]) -> Order:
        """Platform JSON → `Order` (pure). Raises `MalformedOrder`."""

    @abstractmethod
    def probe(self) -> str:
        """One harmless read proving the credentials and URL; returns a short description."""

    def remember_in(self, capabilities: Capabilities) -> None:  # noqa: B027 - a hook, empty by design
        """Where this source keeps what its capability probes told, across processes (the ledger, for an
        hour: `connector.capabilities`). A source that probes nothing ignores it."""

    def not_polled(self, order: Order) -> str | None:
        """Why `poll` would never take `order` (its status is not configured for this source); None when it would."""
        return None

    def estimate(self, since: datetime, until: datetime | None) -> Estimate | None:
        """What `created(since, until)` will read, when the platform can say cheaply; None otherwise."""
        return None

    def expand(self, page: Page, known: Known) -> Page:
        """`page` with its listed orders read in full (`Page.listed`); one `known` holds at the listed version is
        taken from there, without a request. A source whose listing carries whole orders lists none."""
        return page

    def again(self, order_ids: Sequence[str]) -> Page:
        """Orders whose details could not be read before (`Rejected.transient`), read again by id.

        Only a source that reads an order in several requests can leave one half-read; the others
        never record such an order and keep this default."""
        return Page(forget=list(order_ids))

    def readable(self, raw: Any) -> bool:
        """Whether a listing row has an order id to record it under; a row without one is logged here."""
        if platform_id(raw) is not None:
            return True
        shown = printable(json.dumps(raw.get("id") if isinstance(raw, dict) else raw, default=str))
        log.warning("unreadable order row source=%s: a %s with no usable order id (%s); it cannot be recorded, "
                    "the other orders go on", self.name, type(raw).__name__,
                    f"id {shown[:80]}" if isinstance(raw, dict) else shown[:80])
        return False

    def checked(self, raw: dict[str, Any]) -> Order:
        """`parse`, and text every destination can take (no NUL, no lone surrogate, not overlong)."""
        order = self.parse(raw)
        dumped = order.model_dump()
        dumped["customer"] = dumped.pop("customer")  # named after the platform's own field (billing.…) first
        problem = text_problem(dumped)
        if problem:
            raise MalformedOrder(problem)
        return order

    def read(self, raw: dict[str, Any]) -> Order | Rejected:
        """`checked`, turning a malformed order into a `Rejected` that keeps the raw JSON and the reason."""
        try:
            return self.checked(raw)
        except (MalformedOrder, ValueError, TypeError, LookupError, AttributeError, ArithmeticError) as exc:
            reason = str(exc) if isinstance(exc, MalformedOrder) else f"{type(exc).__name__}: {exc}"
            return self.reject(raw, reason)

    def reject(self, raw: Any, reason: str, *, transient: bool = False) -> Rejected:
        """A `Rejected` for this platform row: malformed, or (`transient`) not fully read this time."""
        reason = printable(reason)[:2000]
        order_id = printable(str(raw.get("id", ""))) if isinstance(raw, dict) else ""
        number = printable(str(raw.get("number", order_id)))[:200] if isinstance(raw, dict) else ""
        log.warning("%s source=%s order=%s reason=%s", "order not read, will read again" if transient
                    else "malformed order", self.name, order_id or "?", reason)
        return Rejected(order_id=order_id, number=number, reason=reason,
                        raw=json.dumps(raw, default=str)[:100_000], transient=transient)

    def close(self) -> None:  # noqa: B027 - optional hook
        pass
