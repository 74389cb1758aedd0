"""What an adapter declares about itself, and the tools it reads its settings with.

Every source, destination and look-up module exports one `SPEC`: its name, the settings it reads from the
environment (`from_env`, which returns None when the adapter is off and raises `ConfigError` naming
the variable when a value is bad), the variables that turn it on, hold its credentials and say
where it is (named by `check` and in error messages), what `preview` reads, and its class, whose
`parse` (source: platform JSON → `Order`) or `build` (destination: `Order` → payload) is its one
mapping step. `connector.registry` lists the specs; nothing else names a vendor.

This module imports no adapter, so every adapter can import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from connector import redaction


class ConfigError(ValueError):
    """A setting is missing or malformed. `str()` is the one line a person reads."""

    def __init__(self, variable: str, expected: str, got: str | None = None) -> None:
        self.variable = variable
        shown = "" if got is None else f" (got {got!r})"
        super().__init__(f"{variable}: expected {expected}{shown}")


class Secret(str):
    """A string that never shows itself in a repr."""

    def __repr__(self) -> str:
        return "Secret('***')"


@dataclass(frozen=True)
class Spec:
    kind: Literal["source", "destination", "lookup"]
    name: str  # as on the command line (--source, --destination) and in the ledger
    title: str  # as a person writes it: "WooCommerce"
    adapter: type  # the Source or Destination class, built from the settings `from_env` returns
    from_env: Callable[[Reader], Any | None]  # its settings; None when it is off; ConfigError naming a bad variable
    enable_variables: tuple[str, ...]  # what turns it on (named when nothing of its kind is on)
    credential_variables: tuple[str, ...]  # named when the vendor refuses our credentials
    url_variables: tuple[str, ...]  # where it is: named when it cannot be reached or its certificate fails
    preview_settings: Callable[[], Any]  # stand-in settings for `preview` when it is not configured
    preview_input: str = ""  # source: what `preview` reads
    url_setting: str = "url"  # destination: the settings field holding its base URL (check's TLS handshake)
    code: str = ""  # source: its short code, the prefix of an order's key at the destinations ("wc")
    platform: str = ""  # source: the commerce platform its orders come from ("woocommerce"); "" for none
    fulfilment: Callable[[str, int | None], str] | None = None  # source: (status, status_id) → `orders.Fulfilment`
    polled: bool = True  # source: read by polling; False for one whose orders arrive by webhook (SoPost)
    priced: bool = True  # source: its orders carry money; False for free samples (destinations leave money out)

    @property
    def credentials(self) -> str:
        """"SOPHIO_API_KEY / SOPHIO_API_SECRET": the credential variables as one message names them."""
        return " / ".join(self.credential_variables)

    @property
    def location(self) -> str:
        return " / ".join(self.url_variables)

    @property
    def enabled_by(self) -> str:
        """"SOPHIO_STORE_URL, SOPHIO_API_KEY and SOPHIO_API_SECRET"."""
        return words(self.enable_variables)


def words(items: tuple[str, ...] | list[str], last: str = "and") -> str:
    """"a", "a and b", "a, b and c"."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


class Reader:
    """Typed reads of the environment; every refusal is a `ConfigError` naming the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def text(self, name: str, default: str | None = None) -> str | None:
        return self.raw(name) or default

    def secret(self, name: str) -> Secret | None:
        value = self.raw(name)
        if value is None:
            return None
        redaction.register_secret(value)
        return Secret(value)

    def number(self, name: str, default: float, *, minimum: float = 0.0, integer: bool = False) -> float:
        value = self.raw(name)
        if value is None:
            return default
        kind = "an integer" if integer else "a number"
        try:
            number = int(value) if integer else float(value)
        except ValueError:
            raise ConfigError(name, f"{kind} >= {minimum:g}", value) from None
        if number != number or number < minimum:  # noqa: PLR0124 - NaN is the one value unequal to itself
            raise ConfigError(name, f"{kind} >= {minimum:g}", value)
        return number

    def url(self, name: str, default: str | None = None) -> str | None:
        value = self.raw(name) or default
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(name, "an http:// or https:// URL", redaction.redact(value))
        try:
            parts.port  # noqa: B018 - validates the port
        except ValueError:
            raise ConfigError(name, "a URL with a valid port", redaction.redact(value)) from None
        return value.rstrip("/")

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, "true or false", value)

    def words(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            return default
        words = tuple(w.strip() for w in value.split(",") if w.strip())
        if not words:
            raise ConfigError(name, "a comma-separated list", value)
        return words

    def all_or_none(self, names: tuple[str, ...], what: str) -> bool:
        present = [n for n in names if self.raw(n) is not None]
        if present and len(present) != len(names):
            missing = next(n for n in names if self.raw(n) is None)
            raise ConfigError(missing, f"a value, because {', '.join(present)} is set ({what} needs all of {', '.join(names)})")
        return bool(present)
