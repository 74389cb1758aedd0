"""Settings from the environment and `.env` (python-dotenv, never overriding real variables).

Here: the common settings. Each adapter reads its own (its module's `from_env`, listed in
connector.registry); a source or destination is on when its credentials are set. Any bad value
stops start-up with a `ConfigError` naming the variable and what was expected; the CLI prints it on
one line and exits 2. Secrets are registered with `connector.redaction` as soon as they are read.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dotenv import dotenv_values

from connector import redaction, registry
from connector.adapters import ConfigError, Reader, Secret
from connector.destinations.orderprotection import OrderProtectionSettings  # these five: importable here as before
from connector.destinations.sonarid import SonarIDSettings
from connector.destinations.sophio import SophioSettings
from connector.registry import DESTINATIONS, SOURCES
from connector.sources.bigcommerce import BigCommerceSettings
from connector.sources.woocommerce import WooCommerceSettings
from connector.tls import CA_VARIABLES, Trust

__all__ = ["DESTINATIONS", "SOURCES", "BigCommerceSettings", "ConfigError", "OrderProtectionSettings", "Secret",
           "Settings", "SonarIDSettings", "SophioSettings", "WooCommerceSettings", "load"]



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
    adapters: Mapping[str, Any] = field(default_factory=dict)  # adapter name → its settings, for the enabled ones
    concurrency_by_destination: Mapping[str, int] = field(default_factory=dict)
    trust: Trust = field(default_factory=Trust)  # the CA bundle every HTTPS client verifies against (connector.tls)
    listen: tuple[str, int] | None = ("127.0.0.1", 8787)  # CONNECTOR_LISTEN: the HTTP listener's address; None = none

    @property
    def sources(self) -> list[str]:
        return [name for name in registry.names("source") if name in self.adapters]

    @property
    def destinations(self) -> list[str]:
        return [name for name in registry.names("destination") if name in self.adapters]

    @property
    def lookups(self) -> list[str]:
        """The customer look-ups that are on (Voyado, when VOYADO_API_KEY is set)."""
        return [name for name in registry.names("lookup") if name in self.adapters]

    def of(self, name: str) -> Any | None:
        """The settings of the adapter called `name`; None when it is off."""
        return self.adapters.get(name)

    def __getattr__(self, name: str) -> Any:  # settings.woocommerce, settings.sophio …: `of(name)`
        if not name.startswith("_") and any(spec.name == name for spec in registry.REGISTRY):
            return self.of(name)
        raise AttributeError(name)

    def concurrency_for(self, destination: str) -> int:
        return self.concurrency_by_destination.get(destination, self.concurrency)


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
    r = Reader(env)

    log_format = (r.text("CONNECTOR_LOG_FORMAT", "text") or "text").lower()
    if log_format not in ("text", "json"):
        raise ConfigError("CONNECTOR_LOG_FORMAT", "text or json", log_format)
    log_level = (r.text("CONNECTOR_LOG_LEVEL", "INFO") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("CONNECTOR_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR", log_level)
    database_url = r.text("CONNECTOR_DATABASE_URL") or default_database_url(env)
    if "://" not in database_url:
        raise ConfigError("CONNECTOR_DATABASE_URL", "a SQLAlchemy URL such as sqlite:////var/lib/connector/connector.db",
                          database_url)
    busy = parse_qs(urlsplit(database_url).query).get("timeout") if database_url.startswith("sqlite") else None
    if busy and not _seconds(busy[-1]):
        raise ConfigError("CONNECTOR_DATABASE_URL", "?timeout= in seconds, such as ?timeout=30", redaction.redact(database_url))

    per_destination: dict[str, int] = {}
    for name in registry.names("destination"):
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
        adapters=_adapters(r),
        concurrency_by_destination=per_destination,
        trust=_trust(r),
        listen=_listen(env),
    )


LISTEN_DEFAULT = "127.0.0.1:8787"


def _listen(env: Mapping[str, str]) -> tuple[str, int] | None:
    """CONNECTOR_LISTEN: `host:port` (`[::1]:8787` for IPv6; port 0 = any free one); set but empty = no listener."""
    value = env.get("CONNECTOR_LISTEN")
    if value is None:
        value = LISTEN_DEFAULT
    value = value.strip()
    if not value:
        return None
    host, _, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535 or any(c in host for c in "/ @"):
        raise ConfigError("CONNECTOR_LISTEN", "host:port such as 127.0.0.1:8787 (empty: no listener)", value)
    return host, int(port)


def _trust(r: Reader) -> Trust:
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


def _adapters(r: Reader) -> dict[str, Any]:
    """Each adapter reads its own settings (connector.registry order); the ones that are on."""
    adapters = {}
    for spec in registry.REGISTRY:
        settings = spec.from_env(r)
        if settings is not None:
            adapters[spec.name] = settings
    return adapters
