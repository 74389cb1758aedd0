"""Polls and backfills: windows of platform orders into the ledger, the cursor advancing with them.

The live cursor is where a completed scan ended on the store's clock (`Source.clock`: its `Date`,
the newest modification it returned), never this host's: a store clock minutes off either way
loses nothing. The next window starts a look-back before it, so late commits never lose an
order; the ledger's UNIQUE key makes the overlap free. Pages are enqueued as they arrive and the
cursor moves in the same transaction as the last page, so a crash repeats work and never skips it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connector.capabilities import Capabilities
from connector.ledger import Cursor, EnqueueResult, Ledger, utcnow
from connector.sources.base import Estimate, Page, Source, SourceError

log = logging.getLogger("connector.polling")

LIVE = "live"


@dataclass(frozen=True)
class PollReport:
    source: str
    store: str
    seen: int
    enqueued: int  # new delivery rows
    new_orders: int
    requeued: int
    rejected: int
    cursor: datetime | None
    error: str | None = None
    unread: int = 0  # orders whose details failed to load: recorded, read again at the next poll
    unreadable: int = 0  # rows with no usable order id: logged, nothing to record them under


@dataclass
class Tally:
    """What a poll or a backfill read and recorded, page by page."""

    seen: int = 0  # platform orders listed, eligible or not
    new_deliveries: int = 0
    new_orders: int = 0
    requeued: int = 0
    rejected: int = 0  # malformed orders, recorded with the reason
    unread: int = 0  # orders whose details failed to load: recorded, read again at the next poll
    unreadable: int = 0  # rows with no usable order id: logged, nothing to record them under

    def add(self, page: Page, recorded: EnqueueResult | None = None) -> None:
        """Count `page`, and what the ledger made of it (None: a dry run, every order counted as new)."""
        self.seen += page.seen
        self.unreadable += page.unreadable
        if recorded is None:
            self.new_deliveries += len(page.orders)
            return
        self.new_deliveries += recorded.new_deliveries
        self.new_orders += recorded.new_orders
        self.requeued += recorded.requeued
        self.rejected += recorded.rejected
        self.unread += recorded.unread

    def report(self, source: Source, cursor: Cursor | None, error: str | None) -> PollReport:
        return PollReport(source.name, source.store, self.seen, self.new_deliveries, self.new_orders, self.requeued,
                          self.rejected, cursor.position if cursor else None, error, self.unread, self.unreadable)


def drain(ledger: Ledger, source: Source, pages: Iterator[Page], destinations: Sequence[str], tally: Tally, *,
          cursor: str, end: Callable[[], datetime] | None = None, rewind: bool = False,
          stop: threading.Event | None = None, dry_run: bool = False,
          on_page: Callable[[Page, datetime | None], None] | None = None) -> bool:
    """Record `pages` into the ledger as they arrive, counting into `tally`; True when `stop` cut it short.

    Each page's listed orders are read in full (`Source.expand`) but for those the ledger holds at the
    listed modification time (`Ledger.known`, one query per page).

    With `end` (a poll) `cursor` moves once, with the last page, to `end()` (so the next page is read
    before a page is recorded); without it (a backfill) each page moves `cursor` to its newest creation time."""
    page = next(pages, None)
    interrupted = False
    while page is not None:
        if page.listed:  # only what the ledger does not hold at the listed version is read in full
            page = source.expand(page, ledger.known(source.name, source.store, page.versions))
        interrupted = stop is not None and stop.is_set()
        following = None if interrupted or end is None else next(pages, None)
        newest = max((o.created_at for o in page.orders if hasattr(o, "created_at")), default=None)
        if end is not None:
            last = following is None and not interrupted
            moves, position = (cursor, end()) if last else (None, None)
        else:
            moves, position = (cursor if newest else None), newest
        tally.add(page, None if dry_run else ledger.enqueue(source.name, source.store, page.orders, destinations,
                                                            cursor=moves, position=position, rewind=rewind))
        if on_page:
            on_page(page, newest)
        if interrupted:
            break
        page = following if end is not None else next(pages, None)
    return interrupted


def _second(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def poll(ledger: Ledger, source: Source, destinations: Sequence[str], *, lookback: float,
         now: datetime | None = None, stop: threading.Event | None = None) -> PollReport:
    """One incremental poll of `source`. Never raises for platform trouble: the report carries the error.

    With `stop` set (the service is shutting down) no further page is read: what was read is
    kept, the cursor stays, and the next start repeats the window.
    """
    started = _second(now or utcnow())
    cursor = ledger.cursor(source.name, source.store, LIVE)
    source.remember_in(Capabilities(ledger, source.name, source.store))  # a probe's answer kept for an hour
    reach = timedelta(seconds=max(lookback, source.extra_lookback))
    if cursor is None or cursor.position is None:
        since = started - reach
        log.info("first poll of %s %s: reading orders %s since %s; older orders need `connector backfill`",
                 source.name, source.store, source.window_basis, since.isoformat())
    else:
        since = cursor.position - reach
    tally = Tally()
    error: str | None = None
    interrupted = False
    try:
        waiting = ledger.to_read_again(source.name, source.store)
        if waiting:  # first, so that the window's listing finds them in the ledger when they load now
            retried = source.again(waiting)
            tally.add(retried, ledger.enqueue(source.name, source.store, retried.orders, destinations))
            ledger.forget(source.name, source.store, retried.forget)
        interrupted = drain(ledger, source, source.modified(since), destinations, tally, cursor=LIVE, rewind=True,
                            end=lambda: _end(source, started, cursor), stop=stop)
        if tally.seen == 0 and not interrupted:
            ledger.advance(source.name, source.store, LIVE, _end(source, started, cursor), rewind=True)
        if interrupted:
            log.info("poll of %s %s stopped early for shutdown after %d orders; the cursor stays, "
                     "the next start reads the window again", source.name, source.store, tally.seen)
    except SourceError as exc:
        error = str(exc)
        log.error("poll of %s %s failed: %s (the cursor stays; the next poll repeats the window)",
                  source.name, source.store, error)
    ledger.record_poll(source.name, source.store, seen=tally.seen, enqueued=tally.new_deliveries, error=error)
    report = tally.report(source, ledger.cursor(source.name, source.store, LIVE), error)
    log.info("poll source=%s store=%s seen=%d new_orders=%d enqueued=%d requeued=%d malformed=%d read_again=%d "
             "unreadable=%d cursor=%s%s",
             report.source, report.store, report.seen, report.new_orders, report.enqueued, report.requeued,
             report.rejected, report.unread, report.unreadable,
             report.cursor.isoformat() if report.cursor else "-", f" error={error!r}" if error else "",
             extra={"event": "poll", "source": report.source, "store": report.store, "seen": report.seen,
                    "new_orders": report.new_orders, "enqueued": report.enqueued, "malformed": report.rejected,
                    "read_again": report.unread, "unreadable": report.unreadable,
                    "cursor": report.cursor.isoformat() if report.cursor else None, "error": error})
    return report


def _end(source: Source, started: datetime, cursor: Cursor | None) -> datetime:
    """Where a completed scan leaves the live cursor: on the store's clock (`StoreClock.end`), even
    when that is before the last position; this host's time only when the store showed none."""
    end = source.clock.end(cursor.position if cursor else None) if source.clock is not None else None
    return started if end is None else _second(end)


def backfill_name(since: datetime, until: datetime | None) -> str:
    return f"backfill {since.isoformat()}..{until.isoformat() if until else 'now'}"


def backfill(ledger: Ledger, source: Source, destinations: Sequence[str], *, since: datetime,
             until: datetime | None, dry_run: bool = False,
             on_page: Callable[[int, datetime | None], None] | None = None,
             on_estimate: Callable[[Estimate], None] | None = None) -> PollReport:
    """Orders created in [since, until) into the ledger, without touching the live cursor.

    Resumable: progress is kept under its own cursor name (the range), so running the same
    backfill again starts where the last one stopped. `on_estimate` hears what the source expects
    to read from the (resumed) start, when it can say.
    """
    name = backfill_name(since, until)
    saved = ledger.cursor(source.name, source.store, name)
    start = saved.position if saved and saved.position and not dry_run else since
    tally = Tally()
    error: str | None = None
    if on_estimate is not None:
        try:
            estimate = source.estimate(start, until)
        except SourceError as exc:
            log.warning("backfill of %s %s: no estimate (%s); going on without one", source.name, source.store, exc)
        else:
            if estimate is not None:
                on_estimate(estimate)
    try:
        drain(ledger, source, source.created(start, until), destinations, tally, cursor=name, dry_run=dry_run,
              on_page=None if on_page is None else lambda page, newest: on_page(page.seen, newest))
    except SourceError as exc:
        error = str(exc)
        log.error("backfill of %s %s stopped: %s (run the same command again to resume)", source.name, source.store, error)
    if not dry_run:
        ledger.record_poll(source.name, source.store, seen=tally.seen, enqueued=tally.new_deliveries,
                           error=error, name=name, done=error is None)
    return tally.report(source, ledger.cursor(source.name, source.store, name), error)
