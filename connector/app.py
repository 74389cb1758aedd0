"""The pipeline wired from settings: ledger, enabled sources and destinations, the deliverer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from connector.config import Settings
from connector.delivery import Deliverer, PassReport
from connector.destinations import build_destinations
from connector.ledger import Ledger
from connector.polling import PollReport, poll
from connector.sources import build_sources

log = logging.getLogger("connector")


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
            reports.append(poll(self.ledger, source, list(self.destinations), lookback=self.settings.lookback,
                                stop=stop))
        return reports

    def deliver(self, stop: threading.Event | None = None) -> PassReport:
        self.ledger.recover()
        return self.deliverer.run_due(stop=stop)

    def close(self) -> None:
        self.deliverer.close()
        for source in self.sources.values():
            source.close()
        self.ledger.close()
