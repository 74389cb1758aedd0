"""`connector backfill` for several stores at once, delivering while it reads.

Each store is read in its own thread (`polling.backfill`: pages into the ledger as they arrive, the cursor
with them); meanwhile one delivery loop runs passes (`Deliverer.run_due`) whenever a page has been recorded,
and a last pass once every store is read. Nothing changes in what is sent or when a row is `sending`:
a delivery is only ever claimed from the ledger, after the transaction that recorded its order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from connector.delivery import Deliverer, PassReport
from connector.ledger import Ledger
from connector.polling import PollReport, backfill
from connector.sources.base import Estimate, Source

IDLE_WAIT = 0.5  # seconds the delivery loop waits for a new page before looking at the ledger again


def merge(total: PassReport, part: PassReport) -> None:
    total.states.update(part.states)
    total.paused.update(part.paused)


def backfill_all(ledger: Ledger, sources: Sequence[Source], destinations: Sequence[str], deliverer: Deliverer | None,
                 *, since: datetime, until: datetime | None, dry_run: bool = False,
                 on_page: Callable[[Source, int, datetime | None], None] | None = None,
                 on_estimate: Callable[[Source, Estimate], None] | None = None,
                 on_outcome: Callable[[str, str], None] | None = None) -> tuple[list[PollReport], PassReport | None]:
    """Every source's backfill at once, delivered as it is read (with `deliverer`, unless `dry_run`).
    Returns the reports in the order of `sources`, and what the delivery passes did (None without any)."""
    new_page = threading.Event()
    reading_done = threading.Event()
    stop = threading.Event()  # a store's read raised: deliver nothing more, report the failure
    delivered = PassReport() if deliverer is not None and not dry_run else None

    def deliver() -> None:
        assert deliverer is not None and delivered is not None
        while not stop.is_set():
            last = reading_done.is_set()
            new_page.clear()
            merge(delivered, deliverer.run_due(stop=stop, on_outcome=on_outcome))
            if last:
                return
            new_page.wait(IDLE_WAIT)

    def read(source: Source) -> PollReport:
        def page(seen: int, newest: datetime | None) -> None:
            if on_page is not None:
                on_page(source, seen, newest)
            new_page.set()

        estimate: Any = None if on_estimate is None else (lambda e: on_estimate(source, e))
        return backfill(ledger, source, destinations, since=since, until=until, dry_run=dry_run, on_page=page,
                        on_estimate=estimate)

    with ThreadPoolExecutor(max_workers=len(sources) + 1, thread_name_prefix="backfill") as pool:
        delivering = pool.submit(deliver) if delivered is not None else None
        reading = [pool.submit(read, source) for source in sources]
        try:
            reports = [future.result() for future in reading]
        except BaseException:
            stop.set()
            raise
        finally:
            reading_done.set()
            new_page.set()
            if delivering is not None:
                delivering.result()
    return reports, delivered
