"""Settings from the environment and `.env` (python-dotenv, never overriding real variables).

A source or destination is on when its credentials are set. Any bad value stops start-up with
a `ConfigError` naming the variable and what was expected; the CLI prints it on one line and
exits 2. Secrets are registered with `connector.redaction` as soon as they are read.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from dotenv import dotenv_values

from connector import redaction
from connector.tls import CA_VARIABLES, Trust

SOURCES = ("woocommerce", "bigcommerce")
DESTINATIONS = ("sonarid", "orderprotection", "sophio")


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


@dataclass(frozen=True)
class SonarIDSettings:
    api_key: Secret
    url: str = "https://sonarid.com"


@dataclass(frozen=True)
class OrderProtectionSettings:
    api_token: Secret
    url: str = "https://api.production.orderprotection.com"
    premium_fee_names: tuple[str, ...] = ("order protection", "shipping protection")


@dataclass(frozen=True)
class SophioSettings:
    store_url: str
    api_key: Secret
    api_secret: Secret
    statuses: tuple[str, ...] = ("processing", "awaiting_fulfillment", "awaiting_shipment", "partially_shipped")


@dataclass(frozen=True)
class Settings:
    database_url: str
    poll_interval: float = 60.0
    lookback: float = 600.0
    retry_base: float = 30.0
    retry_cap: float = 3600.0
    max_attempts: int = 8  # failed passes after which a still-failing delivery is logged as an ERROR (once)
    retry_for: float = 3 * 86400.0  # a transient failure is retried this long after the first one, then `dead`
    concurrency: int = 4
    http_timeout: float = 30.0
    log_format: str = "text"
    log_level: str = "INFO"
    woocommerce: WooCommerceSettings | None = None
    bigcommerce: BigCommerceSettings | None = None
    sonarid: SonarIDSettings | None = None
    orderprotection: OrderProtectionSettings | None = None
    sophio: SophioSettings | None = None
    concurrency_by_destination: Mapping[str, int] = field(default_factory=dict)
    trust: Trust = Trust()  # the CA bundle every HTTPS client verifies against (connector.tls)

    @property
    def sources(self) -> list[str]:
        return [name for name in SOURCES if getattr(self, name) is not None]

    @property
    def destinations(self) -> list[str]:
        return [name for name in DESTINATIONS if getattr(self, name) is not None]

    def concurrency_for(self, destination: str) -> int:
        return self.concurrency_by_destination.get(destination, self.concurrency)


class _Reader:
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
        if number < minimum or number != number:
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


def _seconds(value: str) -> bool:
    try:
        return 0 <= float(value) < float("inf")
    except ValueError:
        return False


def default_database_url(env: Mapping[str, str]) -> str:
    state_dir = (env.get("STATE_DIRECTORY") or "").split(":")[0]
    base = Path(state_dir) if state_dir else Path.cwd()
    return f"sqlite:///{base / 'connector.db'}"


def load(env: Mapping[str, str] | None = None, *, dotenv_path: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings. With `env=None`, the process environment plus `.env` (real variables win)."""
    if env is None:
        path = dotenv_path or os.environ.get("CONNECTOR_ENV_FILE") or Path.cwd() / ".env"
        merged: dict[str, str] = {k: v for k, v in dotenv_values(path).items() if v is not None} if Path(path).is_file() else {}
        merged.update(os.environ)
        env = merged
    r = _Reader(env)

    log_format = (r.text("CONNECTOR_LOG_FORMAT", "text") or "text").lower()
    if log_format not in ("text", "json"):
        raise ConfigError("CONNECTOR_LOG_FORMAT", "text or json", log_format)
    log_level = (r.text("CONNECTOR_LOG_LEVEL", "INFO") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("CONNECTOR_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR", log_level)
    database_url = r.text("CONNECTOR_DATABASE_URL") or default_database_url(env)
    if "://" not in database_url:
        raise ConfigError("CONNECTOR_DATABASE_URL", "a SQLAlchemy URL such as sqlite:////var/lib/connector/connector.db", database_url)
    busy = parse_qs(urlsplit(database_url).query).get("timeout") if database_url.startswith("sqlite") else None
    if busy and not _seconds(busy[-1]):
        raise ConfigError("CONNECTOR_DATABASE_URL", "?timeout= in seconds, such as ?timeout=30", redaction.redact(database_url))

    per_destination: dict[str, int] = {}
    for name in DESTINATIONS:
        variable = f"{name.upper()}_CONCURRENCY"
        if r.raw(variable) is not None:
            per_destination[name] = int(r.number(variable, 4, minimum=1, integer=True))

    return Settings(
        database_url=database_url,
        poll_interval=r.number("CONNECTOR_POLL_INTERVAL", 60.0, minimum=1),
        lookback=r.number("CONNECTOR_LOOKBACK", 600.0, minimum=0),
        retry_base=r.number("CONNECTOR_RETRY_BASE", 30.0, minimum=0),
        retry_cap=r.number("CONNECTOR_RETRY_CAP", 3600.0, minimum=1),
        max_attempts=int(r.number("CONNECTOR_MAX_ATTEMPTS", 8, minimum=1, integer=True)),
        retry_for=r.number("CONNECTOR_RETRY_FOR", 3 * 86400.0, minimum=1),
        concurrency=int(r.number("CONNECTOR_CONCURRENCY", 4, minimum=1, integer=True)),
        http_timeout=r.number("CONNECTOR_HTTP_TIMEOUT", 30.0, minimum=1),
        log_format=log_format,
        log_level=log_level,
        woocommerce=_woocommerce(r),
        bigcommerce=_bigcommerce(r),
        sonarid=_sonarid(r),
        orderprotection=_orderprotection(r),
        sophio=_sophio(r),
        concurrency_by_destination=per_destination,
        trust=_trust(r),
    )


def _trust(r: _Reader) -> Trust:
    """The first CA setting that is set (connector.tls); it must be PEM certificates, or a directory of them."""
    for variable in CA_VARIABLES:
        value = r.raw(variable)
        if value is None:
            continue
        path = Path(value).expanduser()
        directory = variable == "SSL_CERT_DIR"
        if not (path.is_dir() if directory else path.exists()):
            raise ConfigError(variable, "an existing directory of CA certificates" if directory
                              else "the path of a PEM file of CA certificates", value)
        trust = Trust(str(path), variable)
        try:
            trust.context()
        except (ssl.SSLError, OSError):
            raise ConfigError(variable, "a readable PEM file of CA certificates", value) from None
        return trust
    return Trust()


def _woocommerce(r: _Reader) -> WooCommerceSettings | None:
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


def _bigcommerce(r: _Reader) -> BigCommerceSettings | None:
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
        raise ConfigError("BIGCOMMERCE_STATUS_IDS", "comma-separated status ids such as 2,3,8,9,10,11", ",".join(ids_text)) from None
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


def _sonarid(r: _Reader) -> SonarIDSettings | None:
    key = r.secret("SONARID_API_KEY")
    if key is None:
        return None
    return SonarIDSettings(api_key=key, url=r.url("SONARID_URL", "https://sonarid.com") or "https://sonarid.com")


def _orderprotection(r: _Reader) -> OrderProtectionSettings | None:
    token = r.secret("ORDERPROTECTION_API_TOKEN")
    if token is None:
        return None
    default = "https://api.production.orderprotection.com"
    names = tuple(n.lower() for n in r.words("ORDERPROTECTION_PREMIUM_FEE_NAMES", ("order protection", "shipping protection")))
    return OrderProtectionSettings(api_token=token, url=r.url("ORDERPROTECTION_URL", default) or default, premium_fee_names=names)


def _sophio(r: _Reader) -> SophioSettings | None:
    if not r.all_or_none(("SOPHIO_STORE_URL", "SOPHIO_API_KEY", "SOPHIO_API_SECRET"), "Sophio"):
        return None
    key, secret = r.secret("SOPHIO_API_KEY"), r.secret("SOPHIO_API_SECRET")
    redaction.register_pair(key, secret)
    assert key is not None and secret is not None
    return SophioSettings(
        store_url=r.url("SOPHIO_STORE_URL") or "",
        api_key=key,
        api_secret=secret,
        statuses=r.words("SOPHIO_STATUSES", SophioSettings.statuses),
    )
