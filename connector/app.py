"""The pipeline wired from settings: ledger, enabled sources and destinations, the deliverer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from connector.config import Settings
from connector.delivery import Deliverer, PassReport
from connector.destinations import build_destinations
from connector.errors import LedgerUnavailable
from connector.ledger import Ledger
from connector.polling import PollReport, poll
from connector.sources import build_sources

log = logging.getLogger("connector")
POLL_LEASE = 600.0  # seconds a store's poll stays with an instance that stopped renewing it (a crash on another host)


class App:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ledger = Ledger(settings.database_url)
        self.sources = build_sources(settings)
        self.destinations = build_destinations(settings)
        self.deliverer = Deliverer(
            self.ledger, self.destinations, retry_base=settings.retry_base, retry_cap=settings.retry_cap,
            max_attempts=settings.max_attempts, retry_for=settings.retry_for, concurrency=settings.concurrency_for,
            timeout=settings.http_timeout,
        )
        self.intake = _intake(self)  # SoPost's webhook events → orders; None when SoPost is off
        self.held_elsewhere: dict[tuple[str, str], str] = {}  # (source, store) another instance polls → that instance
        recovered = self.ledger.recover()
        if recovered:
            log.warning("%d deliveries were left in `sending` by a stopped process; they will be resent "
                        "(each destination deduplicates on the order id)", recovered)

    def poll(self, names: Sequence[str] | None = None, stop: threading.Event | None = None) -> list[PollReport]:
        reports = []
        for name, source in self.sources.items():
            if names and name not in names:
                continue
            if stop is not None and stop.is_set():
                break
            if not self._holds_poll(source.name, source.store):
                continue
            reports.append(poll(self.ledger, source, list(self.destinations), lookback=self.settings.lookback,
                                stop=stop))
        return reports

    def _holds_poll(self, name: str, store: str) -> bool:
        """One instance polls a store at a time (the others deliver); the lease outlives a few intervals."""
        held, lease = self.ledger.take_poll(name, store, ttl=max(POLL_LEASE, 3 * self.settings.poll_interval))
        key = (name, store)
        if not held and key not in self.held_elsewhere:  # warned once
            log.warning("another instance (%s) holds the poll of %s %s until %s: this one only delivers, and takes "
                        "the poll over when that one stops", lease.holder, name, store,
                        lease.expires_at.isoformat(timespec="seconds") if lease.expires_at else "-")
        elif held and key in self.held_elsewhere:
            log.info("took over the poll of %s %s (the instance that held it stopped)", name, store)
        if held:
            self.held_elsewhere.pop(key, None)
        else:
            self.held_elsewhere[key] = lease.holder or "?"
        return held

    def deliver(self, stop: threading.Event | None = None) -> PassReport:
        self.ledger.recover()
        return self.deliverer.run_due(stop=stop)

    def close(self) -> None:
        try:
            self.ledger.release_polls()  # a clean stop: another instance takes the poll over at once
        except LedgerUnavailable as exc:
            log.warning("could not release this instance's polls (%s): they pass to another instance when "
                        "their lease runs out", exc)
        self.deliverer.close()
        for source in self.sources.values():
            source.close()
        if self.intake is not None:
            self.intake.source.close()
        self.ledger.close()


def _intake(app: App) -> Any:
    """The SoPost intake (connector.sopost_intake) when SoPost is on, sending to its destinations that are enabled."""
    webhook_sources = build_sources(app.settings, polled=False)
    source = webhook_sources.get("sopost")
    if source is None:
        return None
    from connector.sopost_intake import Intake

    wanted = source.settings.destinations
    off = [name for name in wanted if name not in app.destinations]
    if off:
        log.warning("SOPOST_DESTINATIONS names %s, which is not enabled: SoPost orders are not sent there", ", ".join(off))
    return Intake(app.ledger, source, [name for name in wanted if name in app.destinations],  # type: ignore[arg-type]
                  retry_base=app.settings.retry_base, retry_cap=app.settings.retry_cap, retry_for=app.settings.retry_for)
