"""The SoPost intake job: events from the inbox → `GET /orders/{id}` → the ledger (or a later look).

Decided on the order as READ, never on the event: a status in SOPOST_STATUSES (default `APPROVED`)
becomes an `Order`, enqueued for SOPOST_DESTINATIONS (those enabled) in the same transaction that
closes the event (connector.inbox); without an APPROVED marketing consent (of SOPOST_CONSENT_IDS when
set) and SOPOST_REQUIRE_CONSENT on, its rows are `skipped` with that reason at every destination.
`PENDING` is read again later (after `PENDING_FIRST` seconds, or CONNECTOR_RETRY_BASE if shorter,
doubling up to `PENDING_CAP`, for up to `PENDING_FOR`); a status not sent on closes the event
`ignored`; `REJECTED` closes the event with the reason.

The read follows the one outcome policy (connector.outcomes): 404 and other permanent refusals close
the event `failed`; 401/403 stop the pass loudly and pause the intake for `PAUSE`, the events stay;
429/5xx/timeouts are retried with backoff until CONNECTOR_RETRY_FOR since the event arrived.
No transaction is open during the read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector import metrics
from connector.inbox import EventState, Inbox, InboxEvent
from connector.ledger import Ledger, utcnow
from connector.orders import MalformedOrder, Order, Rejected
from connector.outcomes import backoff
from connector.sources.base import SourceAuthError, SourceConfigError, SourceError, TransientSourceError, text_problem
from connector.sources.sopost import NotFound, SoPost, consent_problem

log = logging.getLogger("connector.sopost")

BATCH = 20
LEASE = 300.0  # seconds an event stays with the process reading it (a crash: another reads it after)
PENDING_MIN = 1.0
PENDING_FIRST = 5.0  # seconds before the first re-read of an undecided order (then doubling)
PAUSE = 15 * 60.0  # seconds the intake waits after SoPost refused our credentials
PENDING_CAP = 3600.0
PENDING_FOR = 86400.0  # an order undecided for a day is given up on (its event `failed`)


@dataclass
class IntakeReport:
    states: Counter[str] = field(default_factory=Counter)  # events by the state they went to
    enqueued: int = 0  # delivery rows created
    stopped: str | None = None  # why the pass stopped early (refused credentials)

    def describe(self) -> str:
        return ", ".join(f"{n} {s}" for s, n in sorted(self.states.items())) or "nothing due"


class Intake:
    def __init__(self, ledger: Ledger, source: SoPost, destinations: Sequence[str], *, retry_base: float = 30.0,
                 retry_cap: float = 3600.0, retry_for: float = 3 * 86400.0,
                 on_enqueued: Callable[[], None] = lambda: None) -> None:
        self.ledger = ledger
        self.source = source
        self.inbox = Inbox(ledger, source.name)
        self.destinations = list(destinations)
        self.retry_base, self.retry_cap, self.retry_for = retry_base, retry_cap, retry_for
        self.on_enqueued = on_enqueued
        self._recovered = False
        self._paused_until = 0.0  # monotonic time until which the intake does not read (refused credentials)

    def run_due(self, stop: threading.Event | None = None) -> IntakeReport:
        """Every due event, batch by batch, until none is due (or `stop`)."""
        report = IntakeReport()
        if time.monotonic() < self._paused_until:
            report.stopped = "paused: SoPost refused our credentials"
            return report
        if not self._recovered:
            freed = self.inbox.recover()
            self._recovered = True
            if freed:
                log.warning("%d SoPost events were being read by a process that stopped; reading them again", freed)
        while not (stop and stop.is_set()):
            claimed = self.inbox.claim(BATCH, lease=LEASE)
            if not claimed:
                break
            for number, event in enumerate(claimed):
                if (stop and stop.is_set()) or report.stopped:
                    self.inbox.release([e.id or 0 for e in claimed[number:]])
                    return report
                self.process(event, report)
            if report.stopped:
                break
        return report

    def process(self, event: InboxEvent, report: IntakeReport) -> None:
        event_id, now = event.id or 0, utcnow()
        received = event.received_at or now
        try:
            raw = self.source.fetch(event.order_id)
        except NotFound as exc:
            self._close(report, event_id, EventState.FAILED, f"{exc}; nothing to send")
            return
        except (SourceAuthError, SourceConfigError) as exc:
            self.inbox.release([event_id])
            report.stopped = str(exc)
            self._paused_until = time.monotonic() + PAUSE
            log.error("SoPost intake paused: %s; the events wait in the inbox; trying again in %d minutes "
                      "(or fix it and restart the service)", exc, round(PAUSE / 60))
            return
        except TransientSourceError as exc:
            if now - received > timedelta(seconds=self.retry_for):
                self._close(report, event_id, EventState.FAILED, f"gave up after CONNECTOR_RETRY_FOR: {exc}")
                return
            wait = max(exc.retry_after or 0.0, backoff(event.attempts, max(self.retry_base, PENDING_MIN), self.retry_cap))
            self._later(report, event_id, EventState.RETRYING, f"could not read the order: {exc}", now, wait)
            return
        except SourceError as exc:
            self._close(report, event_id, EventState.FAILED, str(exc))
            return
        metrics.ORDERS_READ.labels(self.source.name).inc()
        status = str(raw.get("status") or "").upper()
        if status in self.source.settings.statuses:
            self._enqueue(report, event, raw)
        elif status == "PENDING":
            if now - received > timedelta(seconds=PENDING_FOR):
                self._close(report, event_id, EventState.FAILED, "still PENDING at SoPost a day after its event",
                            status=status)
                return
            first = max(PENDING_MIN, min(self.retry_base, PENDING_FIRST))  # SoPost decides within seconds
            wait = min(PENDING_CAP, first * 2.0 ** min(event.attempts - 1, 20))
            self._later(report, event_id, EventState.PENDING, "SoPost has not decided yet (PENDING)", now, wait, status)
        elif status == "REJECTED":
            self._close(report, event_id, EventState.REJECTED, "SoPost rejected the order (status REJECTED when read; "
                        "its filtering turned the request down): nothing to send", status=status)
        else:
            self._close(report, event_id, EventState.IGNORED,
                        f"status {status or '(none)'} is not in SOPOST_STATUSES "
                        f"({','.join(self.source.settings.statuses)})", status=status)

    def _enqueue(self, report: IntakeReport, event: InboxEvent, raw: dict[str, object]) -> None:
        first = self.inbox.first_received(event.order_id) or event.received_at or utcnow()
        order = self.read(raw, first)
        problem = consent_problem(order, self.source.settings) if isinstance(order, Order) else None
        skipped = dict.fromkeys(self.destinations, problem) if problem else {}
        result = self.inbox.close_with_order(event.id or 0, order, self.source.store, self.destinations, skipped=skipped)
        report.states[EventState.DONE] += 1
        report.enqueued += result.new_deliveries
        log.info("sopost order=%s event_id=%s recorded: %d deliveries queued%s", event.order_id, event.event_id,
                 result.new_deliveries, f", skipped at every destination: {problem}" if problem else "",
                 extra={"event": "sopost_order", "order_id": event.order_id, "enqueued": result.new_deliveries})
        if result.new_deliveries or result.requeued:
            self.on_enqueued()

    def read(self, raw: dict[str, object], first: datetime) -> Order | Rejected:
        """`Source.read` with the first event's arrival standing for the dates SoPost does not send."""
        try:
            order = self.source.parse(dict(raw), at=first)
        except (MalformedOrder, ValueError, TypeError, LookupError, AttributeError, ArithmeticError) as exc:
            return self.source.reject(raw, str(exc) if isinstance(exc, MalformedOrder) else f"{type(exc).__name__}: {exc}")
        problem = text_problem(order.model_dump())
        return self.source.reject(raw, problem) if problem else order

    def _later(self, report: IntakeReport, event_id: int, state: EventState, reason: str, now: datetime, wait: float,
               status: str | None = None) -> None:
        self.inbox.later(event_id, state, reason, at=now + timedelta(seconds=wait), order_status=status)
        report.states[state] += 1

    def _close(self, report: IntakeReport, event_id: int, state: EventState, reason: str, *, status: str | None = None) -> None:
        self.inbox.close(event_id, state, reason, order_status=status)
        report.states[state] += 1
        log.log(logging.WARNING if state == EventState.FAILED else logging.INFO, "sopost event %d closed %s: %s",
                event_id, state, reason)

    def next_due(self) -> datetime | None:
        return self.inbox.summary().next_check
