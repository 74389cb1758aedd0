"""The look-up pass: every due look-up, a few threads at once, each request through the instance's one limiter.

What an answer means is `voyado.classify` (the one outcome policy); here is what happens next:
- a final answer (member, not a member, multiple matches, refused) is stored and reused for a day;
- refused credentials or a wrong URL pause the look-ups for this run with one loud error naming the
  variable (its rows stay due; orders keep flowing without the membership, after VOYADO_WAIT at most);
- a transient failure (429, 5xx, no answer) is tried again a few times at once (`outcomes.retrying`,
  Retry-After honoured), then later with full-jitter backoff (`outcomes.backoff`), until CONNECTOR_RETRY_FOR
  has passed since its first failure: then the look-up is `failed` and no longer retried.
Nothing of Voyado's answer but the kept fields reaches a log line: a line names the look-up's id, not the e-mail.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import tenacity
from pyrate_limiter import Limiter

from connector.formats import duration
from connector.ledger import Ledger, utcnow
from connector.lookups import store
from connector.lookups.voyado import Answer, Voyado
from connector.orders import Loyalty
from connector.outcomes import Outcome, backoff, retrying

log = logging.getLogger("connector.lookups")

QUICK_TRIES = 3
QUICK_WAIT = 1.0  # seconds: the first quick retry's backoff (a leaky bucket refills one per second)
QUICK_RETRY_AFTER_MAX = 5.0  # a longer Retry-After waits in the ledger, not in a thread
ACQUIRE_STEP = 0.5  # seconds between looks at `stop` while waiting for the limiter
PAUSE_RETRY = 15 * 60.0


@dataclass
class LookupReport:
    outcomes: Counter[str] = field(default_factory=Counter)  # member, not_member, …, retrying, released
    paused: str | None = None

    @property
    def answered(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k not in ("retrying", "released"))


class Looker:
    """Runs the due look-ups of one service; shared by the service's jobs and the one-shot commands."""

    def __init__(self, ledger: Ledger, voyado: Voyado, limiter: Limiter, *, concurrency: int = 4,
                 timeout: float = 30.0, retry_base: float = 30.0, retry_cap: float = 3600.0,
                 retry_for: float = 3 * 86400.0, verify: Any = True, quick_wait: float = QUICK_WAIT,
                 pause_retry: float = PAUSE_RETRY, clock: Callable[[], float] = time.monotonic) -> None:
        self.ledger, self.voyado, self.limiter = ledger, voyado, limiter
        self.service = voyado.name
        self.concurrency, self.timeout = concurrency, timeout
        self.retry_base, self.retry_cap, self.retry_for = retry_base, retry_cap, retry_for
        self.quick_wait, self.pause_retry, self.clock = quick_wait, pause_retry, clock
        self._client = voyado.client(timeout, verify)
        self._lock = threading.Lock()
        self._paused: tuple[str, float] | None = None
        self.requests = 0  # sent by this instance, for the benchmark and `status` of a run
        self.refused_429 = 0

    @property
    def paused(self) -> str | None:
        with self._lock:
            return self._paused[0] if self._paused else None

    def _pause(self, why: str) -> None:
        with self._lock:
            first = self._paused is None
            self._paused = (why, self.clock())
        if first:
            log.error("PAUSED voyado look-ups for this run: %s. Orders keep flowing without the membership "
                      "(each destination that carries it waits VOYADO_WAIT at most); the look-ups stay due.", why)

    def _resume_if_due(self) -> None:
        with self._lock:
            if self._paused and self.clock() - self._paused[1] >= self.pause_retry:
                log.info("voyado look-ups were paused %s ago; trying again", duration(self.clock() - self._paused[1]))
                self._paused = None

    def close(self) -> None:
        self._client.close()
        self.limiter.close()
        try:
            store.release(self.ledger, self.service)
        except Exception:  # a lease runs out by itself; closing must not fail for it
            log.debug("could not release claimed look-ups", exc_info=True)

    def run_due(self, *, stop: threading.Event | None = None,
                on_answer: Callable[[str], None] | None = None) -> LookupReport:
        """Every due look-up, until none is due (or `stop` is set, or the look-ups are paused)."""
        self._resume_if_due()
        report = LookupReport()
        workers = self.concurrency
        lease = QUICK_TRIES * (self.timeout + QUICK_RETRY_AFTER_MAX) + workers / max(self.voyado.settings.rate, 1e-9) + 60
        in_flight: set[Future[str]] = set()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookup") as pool:
            while True:
                if self.paused is None and not (stop and stop.is_set()) and len(in_flight) < workers:
                    claims = store.claim(self.ledger, self.service, workers - len(in_flight), lease=lease)
                    in_flight.update(pool.submit(self.look_up, claim, stop) for claim in claims)
                    if claims and len(in_flight) < workers:
                        continue
                if not in_flight:
                    break
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome = future.result()
                    report.outcomes[outcome] += 1
                    if on_answer:
                        on_answer(outcome)
        report.paused = self.paused
        return report

    def _acquire(self, stop: threading.Event | None) -> bool:
        """A token from the shared limiter; False when `stop` was set while waiting for it."""
        while not self.limiter.try_acquire(self.service, blocking=True, timeout=ACQUIRE_STEP):
            if (stop and stop.is_set()) or self.paused is not None:
                return False
        return True

    def _send(self, key: str, stop: threading.Event | None) -> Answer | None:
        """Up to QUICK_TRIES tries (each through the limiter); None when stopped or paused before sending."""

        def attempt() -> Answer | None:
            if not self._acquire(stop):
                return None
            answer = self.voyado.look_up(self._client, key)
            with self._lock:
                self.requests += 1
                self.refused_429 += answer.status_code == 429
            return answer

        def again(state: tenacity.RetryCallState) -> bool:
            answer: Answer | None = state.outcome.result()  # type: ignore[union-attr]
            return (answer is not None and answer.retryable and (answer.retry_after or 0.0) <= QUICK_RETRY_AFTER_MAX
                    and self.paused is None and not (stop and stop.is_set()))

        result: Answer | None = retrying(again, attempts=QUICK_TRIES, base=self.quick_wait,
                                         cap=QUICK_RETRY_AFTER_MAX)(attempt)
        return result

    def look_up(self, claim: store.Claimed, stop: threading.Event | None = None) -> str:
        """One claimed look-up: asked, classified, recorded. Returns what became of it."""
        started = time.monotonic()
        answer = self._send(claim.key, stop)
        if answer is None:
            store.record(self.ledger, claim.id, loyalty=None, answer=f"not sent: {self.paused or 'stopping'}",
                         status_code=None, uncount=True)
            return "released"
        if answer.final:
            assert answer.loyalty is not None
            store.record(self.ledger, claim.id, loyalty=answer.loyalty, answer=answer.word, status_code=answer.status_code)
            return self._logged(claim, answer.loyalty.outcome, answer, started)
        if answer.outcome in (Outcome.AUTH, Outcome.CONFIG):
            said = f"{answer.status_code} {answer.word}" if answer.status_code else answer.word
            what = "refused our key" if answer.outcome is Outcome.AUTH else "does not know the URL"
            self._pause(f"Voyado {what} ({said}); check {answer.variable}")
            store.record(self.ledger, claim.id, loyalty=None, answer=said, status_code=answer.status_code, uncount=True)
            return self._logged(claim, "released", answer, started)
        now = utcnow()
        failing_for = (now - (claim.first_failed_at or now)).total_seconds()
        said = f"HTTP {answer.status_code}: {answer.word}" if answer.status_code else answer.word
        if failing_for >= self.retry_for:
            store.record(self.ledger, claim.id, loyalty=Loyalty(outcome="failed"),
                         answer=f"gave up after {duration(failing_for)} (CONNECTOR_RETRY_FOR): {said}",
                         status_code=answer.status_code)
            return self._logged(claim, "failed", answer, started)
        delay = max(answer.retry_after or 0.0, backoff(claim.attempts, self.retry_base, self.retry_cap))
        store.record(self.ledger, claim.id, loyalty=None, answer=answer.word, status_code=answer.status_code, failing=True,
                     next_attempt_at=now + timedelta(seconds=max(0.0, min(delay, self.retry_for - failing_for))))
        return self._logged(claim, "retrying", answer, started)

    def _logged(self, claim: store.Claimed, outcome: str, answer: Answer, started: float) -> str:
        level = logging.INFO if outcome not in ("retrying", "failed", "released") else logging.WARNING
        log.log(level, "lookup service=%s id=%d outcome=%s answer=%s attempt=%d duration=%.3fs", self.service, claim.id,
                outcome, f"{answer.status_code or '-'} {answer.word}", claim.attempts, time.monotonic() - started,
                extra={"event": "lookup", "service": self.service, "lookup_id": claim.id, "outcome": outcome,
                       "status_code": answer.status_code, "attempt": claim.attempts})
        return outcome

