"""The delivery pass: what each outcome class (`connector.outcomes`, the one policy) means for a delivery.

| answer                                   | class     | what happens                                     |
|------------------------------------------|-----------|--------------------------------------------------|
| 2xx                                      | delivered | done; keep the destination's reference           |
| 400, 404, 409, 422 and other 4xx         | permanent | `dead` with the destination's message            |
| 401, 403; a TLS certificate that fails   | auth, configuration | destination paused for this run, rows stay queued |
| 408, 425, 429, 5xx, connect error        | transient | retry with full-jitter backoff, Retry-After honoured |
| timeout/disconnect after sending         | ambiguous | retried like transient, counted separately        |

A transient or ambiguous failure is retried until `retry_for` (CONNECTOR_RETRY_FOR) has passed since
its first failure, never given up on a count of attempts; `max_attempts` (CONNECTOR_MAX_ATTEMPTS) is
the number of failed passes after which a still-failing delivery is logged as an ERROR, once.

Once a request has been sent its answer is recorded whatever the ledger's trouble: a ledger that is
locked by another process or on a full disk is retried (tenacity, backoff) until it takes the
outcome, or until `stop` has been set for `stop_grace` seconds; meanwhile that destination claims
no new work. Dropping the answer would mean sending the order again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
import tenacity

from connector import metrics, tls
from connector.destinations.base import Destination, Skip
from connector.errors import LedgerUnavailable
from connector.formats import duration
from connector.ledger import Claim, Ledger, State, utcnow
from connector.ledger_writer import Writer
from connector.orders import MalformedOrder
from connector.outcomes import (
    NOT_SENT,
    Outcome,
    backoff,
    classify_exception,
    classify_status,
    retry_after,
    retrying,
)
from connector.redaction import redact

log = logging.getLogger("connector.delivery")

QUICK_TRIES = 3  # attempts within one pass before the row waits for a later pass
QUICK_RETRY_AFTER_MAX = 2.0  # a Retry-After longer than this waits in the ledger, not in a thread
RECORD_WAIT_MAX = 5.0  # the longest pause between two tries at recording an outcome the ledger would not take


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    status_code: int | None = None
    message: str | None = None
    reference: str | None = None
    retry_after: float | None = None
    body: str | None = None

    @property
    def retryable(self) -> bool:
        return self.outcome.retryable


def classify_response(response: httpx.Response, destination: Destination) -> Result:
    answer = destination.read(response)
    outcome = Outcome.DELIVERED if answer.accepted else classify_status(response.status_code)
    if answer.accepted is False and outcome is Outcome.DELIVERED:
        outcome = Outcome.PERMANENT
    body = redact(response.text[:2000]) if response.content else None  # a vendor may echo our URL or key
    if outcome is Outcome.DELIVERED:
        return Result(outcome, response.status_code, reference=answer.reference, body=body)
    return Result(outcome, response.status_code, message=redact(answer.message),
                  retry_after=retry_after(response.status_code, response.headers), body=body)


def classify_failure(exc: Exception, destination: Destination) -> Result:
    """`outcomes.classify_exception` with the message to keep. httpx errors can name the request URL, which may
    carry a credential (Sophio): messages are redacted. A certificate that does not verify is configuration,
    paused like auth (message: the one line to show)."""
    outcome = classify_exception(exc)
    if outcome is Outcome.CONFIG:
        return Result(outcome, message=redact(str(tls.failure(exc, destination.endpoint(), destination.url_variable,
                                                              destination.trust))))
    said = (" (not sent)" if isinstance(exc, NOT_SENT) else " (may have been received)" if outcome is Outcome.AMBIGUOUS
            else "")
    return Result(outcome, message=redact(f"{type(exc).__name__}: {exc}{said}"))


@dataclass
class PassReport:
    """What one delivery pass did, by destination and state."""

    states: Counter[tuple[str, str]] = field(default_factory=Counter)
    paused: dict[str, str] = field(default_factory=dict)

    def add(self, destination: str, state: str) -> None:
        self.states[(destination, state)] += 1

    def count(self, state: str, destination: str | None = None) -> int:
        return sum(n for (d, s), n in self.states.items() if s == state and (destination is None or d == destination))


class Deliverer:
    """Sends what is due in the ledger, per destination concurrently (bounded), and records every outcome."""

    def __init__(self, ledger: Ledger, destinations: Mapping[str, Destination], *, retry_base: float = 30.0,
                 retry_cap: float = 3600.0, max_attempts: int = 8, retry_for: float = 3 * 86400.0,
                 concurrency: Callable[[str], int] | int = 4, timeout: float = 30.0, quick_wait: float = 0.25,
                 stop_grace: float | None = None) -> None:
        self.ledger = ledger
        self.destinations = dict(destinations)
        self.retry_base, self.retry_cap, self.max_attempts = retry_base, retry_cap, max_attempts
        self.retry_for = retry_for
        self.stop_grace = timeout if stop_grace is None else stop_grace  # as long as a request in flight may take
        self._unrecorded: Counter[str] = Counter()  # per destination: outcomes waiting for the ledger
        self._concurrency = concurrency
        self.timeout = timeout
        self.quick_wait = quick_wait
        self._paused: dict[str, str] = {}  # destination → why; changed only by `pause` / `resume`, under the lock
        self._clients: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()
        self.writer = Writer(ledger)  # claims and outcomes of every worker, batched in one thread
        self._pools: dict[str, ThreadPoolExecutor] = {}  # per destination (and "" for the passes), see `_pool`

    @property
    def paused(self) -> dict[str, str]:
        """The destinations paused for refused credentials or a certificate, with why (a copy)."""
        with self._lock:
            return dict(self._paused)

    def pause(self, name: str, why: str) -> bool:
        """Pause `name` for this run (its rows stay queued); True when it was not paused yet."""
        with self._lock:
            first = name not in self._paused
            self._paused[name] = why
        return first

    def is_paused(self, name: str) -> bool:
        """Whether `name` is paused (a dict lookup, atomic: no copy, no lock; asked around every request)."""
        return name in self._paused

    def resume(self, name: str) -> bool:
        """Let the next pass try `name` again; True when it was paused."""
        with self._lock:
            return self._paused.pop(name, None) is not None

    def concurrency(self, destination: str) -> int:
        return self._concurrency(destination) if callable(self._concurrency) else self._concurrency

    def client(self, name: str) -> httpx.Client:
        with self._lock:
            if name not in self._clients:
                self._clients[name] = self.destinations[name].client(self.timeout)
            return self._clients[name]

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.shutdown()
        self.writer.close()

    def run_due(self, *, stop: threading.Event | None = None,
                on_outcome: Callable[[str, str], None] | None = None) -> PassReport:
        """One pass: every due row of every unpaused destination, until none is due (or `stop` is set)."""
        report = PassReport()
        names = [n for n in self.destinations if n not in self.paused]
        if names:
            pool = self._pool("", len(self.destinations))
            futures = [pool.submit(self._run_destination, n, report, stop, on_outcome) for n in names]
            try:
                for future in futures:
                    future.result()
            finally:
                wait(futures)
        report.paused.update(self.paused)
        return report

    def _pool(self, name: str, workers: int) -> ThreadPoolExecutor:
        """The threads of `name` ("": the passes' own), kept across passes: a backfill that delivers while
        it reads runs many short passes, and starting threads anew for each one fragments the heap."""
        with self._lock:
            if name not in self._pools:
                self._pools[name] = ThreadPoolExecutor(max_workers=workers,
                                                       thread_name_prefix=f"deliver-{name}" if name else "deliver")
            return self._pools[name]

    def _run_destination(self, name: str, report: PassReport, stop: threading.Event | None,
                         on_outcome: Callable[[str, str], None] | None) -> None:
        workers = self.concurrency(name)
        # the longest a claimed row can wait for its answer: every quick try timing out, plus a margin
        lease = QUICK_TRIES * (self.timeout + QUICK_RETRY_AFTER_MAX) + 60
        in_flight: set[Future[str]] = set()
        pool = self._pool(name, workers)
        try:
            while True:
                if (not self.is_paused(name) and not (stop and stop.is_set()) and len(in_flight) < workers
                        and not self._unrecorded[name]):  # while an answer waits for the ledger, claim nothing
                    # keep every worker busy: claim only what can start now, so no row waits in `sending`
                    claims = self.writer.run(partial(self.ledger.claim, name, workers - len(in_flight), lease=lease))
                    in_flight.update(pool.submit(self.deliver, name, claim, stop) for claim in claims)
                    if claims and len(in_flight) < workers:
                        continue
                if not in_flight:
                    return
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    state = future.result()
                    report.add(name, state)
                    if on_outcome:
                        on_outcome(name, state)
        finally:
            wait(in_flight)  # as leaving a pool of its own did: nothing of this pass goes on behind it

    def deliver(self, name: str, claim: Claim, stop: threading.Event | None = None) -> str:
        """Build, send (with a few quick retries) and record one claimed delivery; returns the new state."""
        destination = self.destinations[name]
        order = claim.order
        started = time.monotonic()
        if self.is_paused(name) or (stop and stop.is_set()):
            why = f"not sent: {self.paused.get(name, 'stopping')}"
            self.writer.run(lambda: self.ledger.record(claim.delivery_id, State.RETRYING, reason=why, uncount=True))
            return State.RETRYING
        try:
            payload = destination.build(order)
        except Skip as skip:
            return self._finish(name, claim, State.SKIPPED, started, stop=stop, reason=skip.reason)
        # ArithmeticError: e.g. an amount past Decimal's precision
        except (MalformedOrder, ValueError, KeyError, TypeError, ArithmeticError) as exc:
            return self._finish(name, claim, State.DEAD, started, stop=stop, reason=f"cannot map the order for {name}: {exc}")

        result, ambiguous = self._send(destination, payload, stop)
        if result.outcome is Outcome.DELIVERED:
            return self._finish(name, claim, State.DELIVERED, started, stop=stop, result=result, ambiguous=ambiguous, reason=None)
        if result.outcome is Outcome.PERMANENT:
            return self._finish(name, claim, State.DEAD, started, stop=stop, result=result, ambiguous=ambiguous,
                                reason=f"{name} refused the order ({result.status_code}): {result.message}")
        if result.outcome in (Outcome.AUTH, Outcome.CONFIG):
            why = (f"{name} refused our credentials ({result.status_code}: {result.message}); "
                   f"check {destination.credential_variable}") if result.status_code else str(result.message)
            if self.pause(name, why):
                log.error("PAUSED %s for this run: %s. Its orders stay queued; nothing is dropped.", name, why)
            return self._finish(name, claim, State.RETRYING, started, stop=stop, result=result, ambiguous=ambiguous,
                                reason=why, uncount=True,
                                next_at=utcnow())
        # transient or ambiguous: retried until the horizon, whatever the number of attempts
        now = utcnow()
        failing_for = (now - (claim.first_failed_at or now)).total_seconds()
        if failing_for >= self.retry_for:
            return self._finish(name, claim, State.DEAD, started, stop=stop, result=result, ambiguous=ambiguous,
                                failing=True, reason=f"gave up: still failing {duration(failing_for)} after the first failure at "
                                       f"{claim.first_failed_at or now:%Y-%m-%d %H:%M:%S}Z (CONNECTOR_RETRY_FOR is "
                                       f"{duration(self.retry_for)}), after {claim.attempts} attempts: {self._describe(result)}")
        if claim.attempts == self.max_attempts:
            log.error("delivery source=%s order=%s destination=%s has failed %d passes (CONNECTOR_MAX_ATTEMPTS) for %s: "
                      "%s; still retrying until %s after its first failure (CONNECTOR_RETRY_FOR)",
                      order.source, order.id, name, claim.attempts, duration(failing_for), self._describe(result),
                      duration(self.retry_for),
                      extra={"event": "delivery_struggling", "source": order.source, "order_id": order.id,
                             "destination": name, "attempt": claim.attempts})
        delay = max(result.retry_after or 0.0, backoff(claim.attempts, self.retry_base, self.retry_cap))
        delay = max(0.0, min(delay, self.retry_for - failing_for))  # one last try at the horizon, not after it
        return self._finish(name, claim, State.RETRYING, started, stop=stop, result=result, ambiguous=ambiguous,
                            reason=self._describe(result), next_at=now + timedelta(seconds=delay), failing=True)

    def _send(self, destination: Destination, payload: dict[str, object],
              stop: threading.Event | None) -> tuple[Result, int]:
        """The final result of up to QUICK_TRIES tries, and how many tries were ambiguous."""
        client = self.client(destination.name)

        def attempt() -> Result:
            began = time.monotonic()
            try:
                return classify_response(destination.send(client, payload), destination)
            except httpx.TransportError as exc:
                return classify_failure(exc, destination)
            finally:
                metrics.HTTP_LATENCY.labels(destination.name).observe(time.monotonic() - began)

        def again(state: tenacity.RetryCallState) -> bool:
            result: Result = state.outcome.result()  # type: ignore[union-attr]
            return (result.retryable and (result.retry_after or 0.0) <= QUICK_RETRY_AFTER_MAX
                    and not self.is_paused(destination.name) and not (stop and stop.is_set()))

        quick = retrying(again, attempts=QUICK_TRIES, base=self.quick_wait, cap=QUICK_RETRY_AFTER_MAX)
        tries: list[Result] = []

        def counted() -> Result:
            tries.append(attempt())
            return tries[-1]

        result: Result = quick(counted)
        return result, sum(r.outcome is Outcome.AMBIGUOUS for r in tries)

    @staticmethod
    def _describe(result: Result) -> str:
        what = f"HTTP {result.status_code}" if result.status_code else result.outcome.value
        return f"{what}: {result.message}" if result.message else what

    def _finish(self, name: str, claim: Claim, state: State, started: float, *, reason: str | None,
                result: Result | None = None, uncount: bool = False, next_at: datetime | None = None,
                ambiguous: int = 0, failing: bool = False, stop: threading.Event | None = None) -> str:
        self._record(name, claim, stop, state, reason=reason,
                     status_code=result.status_code if result else None,
                     reference=result.reference if result else None,
                     message=result.message if result else None,
                     response=result.body if result else None,
                     next_attempt_at=next_at, ambiguous=ambiguous, uncount=uncount, failing=failing)
        metrics.DELIVERIES.labels(name, str(state)).inc()
        order = claim.order
        level = logging.WARNING if state in (State.DEAD, State.RETRYING) else logging.INFO
        log.log(level, "delivery source=%s order=%s destination=%s state=%s attempt=%d duration=%.3fs%s",
                order.source, order.id, name, state, claim.attempts, time.monotonic() - started,
                f" reason={redact(reason)!r}" if reason else "",
                extra={"event": "delivery", "source": order.source, "order_id": order.id, "destination": name,
                       "state": str(state), "attempt": claim.attempts,
                       "duration": round(time.monotonic() - started, 3), "reason": redact(reason) if reason else None})
        return state

    def _record(self, name: str, claim: Claim, stop: threading.Event | None, state: State, **outcome: Any) -> None:
        """`Ledger.record`, retried while the ledger is locked or its disk full (see the module docstring)."""
        stopping_since: list[float] = []
        waited = logged = False

        def give_up(_state: tenacity.RetryCallState) -> bool:
            if stop is None or not stop.is_set():
                return False
            stopping_since[:1] = stopping_since[:1] or [time.monotonic()]
            return time.monotonic() - stopping_since[0] >= self.stop_grace

        def hold() -> bool:
            """Claim nothing more for `name` from now on (True the first time)."""
            nonlocal waited
            with self._lock:
                first, waited = not waited, True
                if first:
                    self._unrecorded[name] += 1
            return first

        def attempt() -> None:
            try:
                self.ledger.record(claim.delivery_id, state, **outcome)
            except LedgerUnavailable:
                # held in the writer's thread, before any answer of the same batch reaches its worker (which
                # would let the destination claim again before this one is marked as waiting)
                hold()
                raise

        def waiting(retry_state: tenacity.RetryCallState) -> None:
            nonlocal logged
            hold()
            if not logged:
                logged = True
                log.warning("could not record the outcome (%s) of order %s for %s: %s. Retrying until the ledger "
                            "takes it; no new deliveries to %s meanwhile", state, claim.order.id, name,
                            getattr(retry_state.outcome.exception(), "what", None), name)  # type: ignore[union-attr]

        recording = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(LedgerUnavailable), stop=give_up, before_sleep=waiting,
            wait=tenacity.wait_random_exponential(multiplier=0.2, max=RECORD_WAIT_MAX), reraise=True)
        try:
            recording(self.writer.run, attempt)
        except LedgerUnavailable:
            log.error("gave up recording the outcome (%s) of order %s for %s while stopping; it stays `sending` "
                      "and is resent at the next start (the destination deduplicates on the order id)",
                      state, claim.order.id, name)
            raise
        finally:
            if waited:
                with self._lock:
                    self._unrecorded[name] -= 1
        if waited:
            log.info("recorded the outcome (%s) of order %s for %s after %d tries", state, claim.order.id, name,
                     recording.statistics.get("attempt_number", 0))
