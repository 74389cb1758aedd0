"""`check`: is this configuration good enough to run? Reads, never sends.

Settings are validated by `config.load` (a bad value stops there, naming its variable). Then:
the ledger's database can be opened or created; at least one source and one destination is on,
and each has an adapter; and each enabled source answers one harmless read (`Source.probe()`),
which proves its URL, credentials and TLS certificate and shows the store's clock (a skew of more
than a minute is reported, as a warning: windows follow the store's clock). Destinations are not
sent to, as the only call that would prove their credentials is submitting an order; an https://
one gets a TLS handshake, which proves its certificate against the configured CAs. Every problem
is one line naming the variable to fix.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from connector import migrations, tls
from connector.config import Settings
from connector.destinations import build_destinations
from connector.redaction import redact
from connector.registry import of_kind, spec
from connector.sources import build_sources
from connector.sources.base import SourceAuthError, SourceConfigError, SourceError


def nothing_enabled(kind: str) -> str:
    """"no source is enabled: set A, B and C, or D and E": what turns each adapter of `kind` on."""
    return f"no {kind} is enabled: set " + ", or ".join(spec.enabled_by for spec in of_kind(kind))


@dataclass(frozen=True)
class Finding:
    ok: bool
    subject: str  # "database", a source or destination name, "sources", "destinations"
    text: str  # one line; for a problem it names the variable to fix
    warn: bool = False  # fine to run with, worth a look

    def __str__(self) -> str:
        return f"{self.subject}: {self.text}"


def run_checks(settings: Settings) -> list[Finding]:
    return [database(settings.database_url), *sources(settings), *webhooks(settings), *destinations(settings),
            *lookups(settings)]


def webhooks(settings: Settings) -> list[Finding]:
    """SoPost's settings that only make sense together: a listener to receive it, destinations that are on."""
    sopost = settings.of("sopost")
    if sopost is None:
        return []
    findings = []
    if settings.listen is None:
        findings.append(Finding(False, "sopost", "CONNECTOR_LISTEN is empty: SoPost's webhooks cannot arrive "
                                                 "(set it, e.g. 127.0.0.1:8787, behind a TLS reverse proxy)"))
    off = [name for name in sopost.destinations if name not in settings.destinations]
    if off:
        findings.append(Finding(True, "sopost", f"SOPOST_DESTINATIONS names {', '.join(off)}, which is not enabled: "
                                                "SoPost orders are not sent there", warn=True))
    if not sopost.organisation_id:
        findings.append(Finding(True, "sopost", "SOPOST_ORGANISATION_ID is not set: `webhooks register` then needs "
                                                "--campaign ID", warn=True))
    return findings


def database(url: str) -> Finding:
    """The ledger can be opened (or created), without creating anything now."""
    shown = redact(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        return Finding(False, "database", f"CONNECTOR_DATABASE_URL is not a SQLAlchemy URL ({shown})")
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return Finding(True, "database", f"{shown} (in memory: nothing survives a restart)")
        path = Path(parsed.database)
        if path.exists():
            try:
                with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as connection:
                    names = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
                    found = (connection.execute("SELECT version_num FROM alembic_version").fetchone() or [None])[0] \
                        if "alembic_version" in names else None
            except sqlite3.Error as exc:
                return Finding(False, "database", f"cannot read {path}: {exc} (check CONNECTOR_DATABASE_URL)")
            if not os.access(path, os.R_OK | os.W_OK):
                return Finding(False, "database", f"{path} is not writable by this user (check CONNECTOR_DATABASE_URL)")
            return Finding(True, "database", f"{shown} ({_schema(found, 'deliveries' in names)})")
        folder = path.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            return Finding(False, "database", f"cannot create {path}: {folder} is not a writable directory "
                                              "(check CONNECTOR_DATABASE_URL)")
        return Finding(True, "database", f"{shown} (will be created)")
    try:
        engine = create_engine(url, connect_args={} if "connect_timeout" in parsed.query else {"connect_timeout": 10})
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                found, tables = migrations.current(connection), inspect(connection).has_table("deliveries")
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError) as exc:
        why = redact(getattr(exc, "orig", None) or exc).strip().splitlines()
        return Finding(False, "database", f"cannot connect to CONNECTOR_DATABASE_URL={shown}: "
                                          f"{why[0] if why else type(exc).__name__}")
    return Finding(True, "database", f"{shown} ({_schema(found, tables)})")


def _schema(found: str | None, tables: bool = False) -> str:
    head = migrations.head()
    if found is None:
        return (f"written before migrations: upgraded to schema revision {head} at the next start" if tables
                else "schema not created yet: the first `run`, `poll` or `backfill` creates it")
    return f"schema revision {found}" + ("" if found == head else f", upgraded to {head} at the next start")


def sources(settings: Settings) -> list[Finding]:
    if not settings.sources:
        return [Finding(False, "sources", nothing_enabled("source"))]
    findings = []
    for name, source in build_sources(settings, polled=None).items():  # the webhook sources too (one harmless read)
        location = spec(name).location
        try:
            findings.append(Finding(True, name, redact(source.probe())))
            skew = source.clock.describe_skew() if source.clock is not None else None
            if skew:
                findings.append(Finding(True, name, skew, warn=True))
        except (SourceAuthError, SourceConfigError) as exc:  # its message names the variables to fix
            findings.append(Finding(False, name, redact(exc)))
        except SourceError as exc:
            findings.append(Finding(False, name, f"{redact(exc)} (check {location})"))
        except Exception as exc:  # noqa: BLE001 - an unreadable store is a finding, not a crash
            findings.append(Finding(False, name, f"could not read the store: {type(exc).__name__}: {redact(exc)} "
                                                 f"(check {location})"))
        finally:
            source.close()
    return findings


def lookups(settings: Settings) -> list[Finding]:
    """Each enabled look-up (optional: none is fine): its URL's TLS certificate, never a look-up."""
    findings = []
    for name in settings.lookups:
        url = getattr(settings.of(name), spec(name, "lookup").url_setting)
        variable = spec(name, "lookup").location
        error = tls.handshake(url, settings.trust, timeout=min(10.0, settings.http_timeout))
        line = tls.failure(error, url, variable, settings.trust) if error else None
        if line is not None:
            findings.append(Finding(False, name, line))
            continue
        unreachable = f"; no TLS handshake: {type(error).__name__}: {redact(error)}" if error else ""
        findings.append(Finding(True, name, f"enabled, {redact(url)} (no look-up made: a refused key shows up as a "
                                            f"PAUSED line in the service log{unreachable})", warn=error is not None))
    return findings


def destinations(settings: Settings) -> list[Finding]:
    if not settings.destinations:
        return [Finding(False, "destinations", nothing_enabled("destination"))]
    findings = []
    for name, destination in build_destinations(settings).items():
        url = getattr(destination.settings, spec(name).url_setting)
        error = tls.handshake(url, settings.trust, timeout=min(10.0, settings.http_timeout))
        line = tls.failure(error, url, destination.url_variable, settings.trust) if error else None
        if line is not None:
            findings.append(Finding(False, name, line))
            continue
        verified = "TLS certificate verified; " if url.startswith("https://") and error is None else ""
        unreachable = f"; no TLS handshake: {type(error).__name__}: {redact(error)}" if error else ""
        findings.append(Finding(True, name, f"enabled, {redact(url)} ({verified}no order sent: check never sends one; "
                                            "refused credentials show up as a PAUSED line in the service log"
                                            f"{unreachable})", warn=error is not None))
    return findings
