"""The pipeline wired from settings: ledger, enabled sources and destinations, the deliverer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from connector.config import Settings
from connector.delivery import Deliverer, PassReport
from connector.destinations import build_destinations
from connector.errors import LedgerUnavailable
from connector.ledger import Ledger
from connector.lookups.worker import Looker, LookupReport
from connector.polling import PollReport, poll
from connector.sources import build_sources

log = logging.getLogger("connector")
HELD_STEP = 0.5  # seconds between looks while deliveries wait for their look-ups (poll, backfill)
POLL_LEASE = 600.0  # seconds a store's poll stays with an instance that stopped renewing it (a crash on another host)


def lookups(settings: Settings, ledger: Ledger) -> Looker | None:
    """The Voyado look-ups, when they are on: the enqueue hook that links each order, and the worker."""
    if settings.voyado is None:
        return None
    from connector.lookups import limiter, store, voyado

    ledger.enqueue_hooks.append(store.linker(voyado.SPEC.name, voyado.order_email, voyado.FRESH_FOR))
    shared = limiter.shared(ledger, voyado.SPEC.name, settings.voyado.rate, settings.voyado.burst)  # every process
    return Looker(ledger, voyado.Voyado(settings.voyado), shared,
                  concurrency=settings.concurrency, timeout=settings.http_timeout, retry_base=settings.retry_base,
                  retry_cap=settings.retry_cap, retry_for=settings.retry_for, verify=settings.trust.context())


def merge(into: PassReport, other: PassReport) -> None:
    into.states.update(other.states)
    into.paused.update(other.paused)


class App:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ledger = Ledger(settings.database_url)
        self.sources = build_sources(settings)
        self.destinations = build_destinations(settings)
        self.looker = lookups(settings, self.ledger)  # the Voyado look-ups, when VOYADO_API_KEY is set
        self.deliverer = Deliverer(
            self.ledger, self.destinations, retry_base=settings.retry_base, retry_cap=settings.retry_cap,
            max_attempts=settings.max_attempts, retry_for=settings.retry_for, concurrency=settings.concurrency_for,
            timeout=settings.http_timeout, lookup_wait=settings.voyado.wait if self.looker else None,
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
        self._sync_wait()
        return self.deliverer.run_due(stop=stop)

    def _sync_wait(self) -> None:
        """While the look-ups are paused (refused key, wrong URL) no delivery waits for them."""
        if self.looker is not None:
            self.deliverer.lookup_wait = None if self.looker.paused else self.settings.voyado.wait

    def _held(self) -> int:
        wait = self.deliverer.lookup_wait
        if wait is None:
            return 0
        return self.ledger.held_for_lookups([n for n, d in self.destinations.items() if d.uses_loyalty], wait)

    def look_up(self, stop: threading.Event | None = None, on_answer: Callable[[str], None] | None = None) -> LookupReport:
        """One look-up pass (nothing when no look-up is on)."""
        return self.looker.run_due(stop=stop, on_answer=on_answer) if self.looker else LookupReport()

    def deliver_with_lookups(self, stop: threading.Event | None = None,
                             on_answer: Callable[[str], None] | None = None,
                             on_outcome: Callable[[str, str], None] | None = None) -> tuple[PassReport, LookupReport]:
        """`poll` and `backfill`: the look-ups run beside the delivery passes; deliveries that wait for a look-up go
        when it is answered or VOYADO_WAIT has passed, whichever first; returns when both are done."""
        self.ledger.recover()
        if self.looker is None:
            return self.deliverer.run_due(stop=stop, on_outcome=on_outcome), LookupReport()
        results: list[LookupReport] = []
        worker = threading.Thread(target=lambda: results.append(self.look_up(stop, on_answer)), name="lookups")
        self._sync_wait()
        worker.start()
        report = self.deliverer.run_due(stop=stop, on_outcome=on_outcome)
        while worker.is_alive():
            worker.join(timeout=1.0)
            self._sync_wait()
            merge(report, self.deliverer.run_due(stop=stop, on_outcome=on_outcome))
        looked = results[0] if results else LookupReport()
        while self._held() and not (stop and stop.is_set()):  # retries that come due, or VOYADO_WAIT running out
            time.sleep(HELD_STEP)
            again = self.look_up(stop, on_answer)
            looked.outcomes.update(again.outcomes)
            looked.paused = again.paused
            self._sync_wait()
            merge(report, self.deliverer.run_due(stop=stop, on_outcome=on_outcome))
        self._sync_wait()
        merge(report, self.deliverer.run_due(stop=stop, on_outcome=on_outcome))
        return report, looked

    def close(self) -> None:
        try:
            self.ledger.release_polls()  # a clean stop: another instance takes the poll over at once
        except LedgerUnavailable as exc:
            log.warning("could not release this instance's polls (%s): they pass to another instance when "
                        "their lease runs out", exc)
        self.deliverer.close()
        if self.looker is not None:
            self.looker.close()
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
