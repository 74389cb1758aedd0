"""The service (`connector run`): APScheduler 3.x jobs, clean shutdown on SIGTERM/SIGINT, systemd notify.

Jobs (one in-memory job store: the cursors and the queue live in the ledger, not in APScheduler):
- `poll-<source>` per enabled source, every CONNECTOR_POLL_INTERVAL seconds plus a little jitter,
  the first one at start-up;
- `deliver`, every few seconds: one delivery pass over what is due (new rows and retries whose
  `next_attempt_at` has come), which keeps claiming until nothing is due;
- `sopost`, while SoPost is on, every `INTAKE_TICK` seconds and at once when the listener stores an event:
  the intake (connector.sopost_intake) reads the orders of new events; what it enqueues wakes `deliver`;
- `lookup`, every few seconds while Voyado is on: one look-up pass over the due look-ups, each request
  through the instance's one limiter (connector.lookups.worker);
- `watchdog`, while systemd set WATCHDOG_USEC: `WATCHDOG=1` at half that interval. It runs as a
  scheduler job on its own one-thread executor, so the pings prove that the scheduler still
  dispatches jobs; if it hangs or dies, systemd kills and restarts the service.
All jobs: max_instances=1, coalesce=True, and misfire_grace_time >= the poll interval through
`job_defaults` (a top-level `misfire_grace_time=` is silently ignored, apscheduler#146; the 1 s
default produces spurious "was missed by" skips).

Why BackgroundScheduler and a waiting main thread rather than BlockingScheduler: Python runs signal
handlers in the main thread, between bytecodes, wherever it happens to be. With BlockingScheduler
that is inside the scheduler loop, so stopping would mean calling `shutdown(wait=True)` from a
handler that interrupted the very loop it shuts down (and a second signal re-enters it). Here the
handler only appends to a list (no lock, so it can never deadlock against the thread it interrupted),
and the main thread, which does nothing but wait, notices within a fraction of a second and runs the
shutdown as ordinary code, exactly once: STOPPING=1, set the stop Event (polls stop between pages,
the delivery pass between orders and before any further quick retry), `shutdown(wait=True)` so the
requests in flight finish or time out (CONNECTOR_HTTP_TIMEOUT; the unit's TimeoutStopSec is longer),
release anything of ours still in `sending`, exit 0. The HTTP listener (connector.web, CONNECTOR_LISTEN) starts
before the jobs and stops first: nothing new is accepted, requests already read are answered.
Waking a job early (`wake`: a webhook stored, an order enqueued) is the one call into the scheduler
from outside it, made under `_wake_lock` and never once the stop has begun. No job ever calls back into the scheduler:
`shutdown()` holds the job store lock while it waits for running jobs, so that could deadlock.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Any, TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from connector import metrics
from connector.app import App
from connector.delivery import PassReport
from connector.errors import LedgerUnavailable
from connector.formats import duration
from connector.ledger import State, process_token, utcnow
from connector.notify import Notifier
from connector.polling import PollReport
from connector.redaction import redact

T = TypeVar("T")

log = logging.getLogger("connector.service")

DELIVERY_TICK = 5.0  # seconds between delivery passes (at most; never longer than the poll interval)
POLL_JITTER = 5.0  # at most this many seconds, and at most a tenth of the interval
PAUSE_RETRY = 15 * 60.0  # a destination paused for refused credentials is tried again after this
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
WAIT_STEP = 0.2  # how often the main thread looks for a signal

WATCHDOG_EXECUTOR = "watchdog"
INTAKE_TICK = 2.0  # seconds between SoPost intake passes (each new event also wakes it at once)
WOKEN_JOBS = ("deliver", "sopost", "lookup")  # jobs woken early, whose overlapping ticks are expected


class _ExpectedSkips(logging.Filter):
    """Drops APScheduler's "skipped: maximum number of running instances" for the delivery job.

    A delivery pass keeps claiming until nothing is due, so while a long pass runs, the ticks it
    overlaps have nothing to add; warning about each would bury the lines that matter. The same
    warning for a poll job is kept: a poll that outlasts its interval is worth knowing about.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances" not in str(record.msg):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        return not (args and getattr(args[0], "id", None) in WOKEN_JOBS)


class Service:
    """`connector run`: the pipeline on a schedule until SIGTERM or SIGINT."""

    def __init__(self, app: App, notifier: Notifier | None = None, *, pause_retry: float = PAUSE_RETRY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.notifier = notifier if notifier is not None else Notifier()
        self.pause_retry = pause_retry
        self.clock = clock
        self.stop = threading.Event()
        self.interval = app.settings.poll_interval
        self.delivery_tick = min(DELIVERY_TICK, self.interval)
        self.scheduler = self._scheduler()
        self._signals: list[int] = []
        self._paused_since: dict[str, float] = {}
        self._polls: dict[str, tuple[PollReport, datetime]] = {}
        self._delivered = 0
        self._status_lock = threading.Lock()
        self._wake_lock = threading.Lock()
        self._woken = {job_id: threading.Event() for job_id in WOKEN_JOBS}
        if app.intake is not None:
            app.intake.on_enqueued = lambda: self.wake("deliver")
        self.listener = self._listener()

    # -- wiring ------------------------------------------------------------------------------

    def _scheduler(self) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(max_workers=len(self.app.sources) + 1 + (self.app.intake is not None)
                                              + (self.app.looker is not None)),
                WATCHDOG_EXECUTOR: ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": max(1, math.ceil(self.interval)),
            },
            timezone=UTC,
        )
        now = datetime.now(UTC)
        for name in self.app.sources:
            scheduler.add_job(self._poll, IntervalTrigger(seconds=self.interval, jitter=min(POLL_JITTER, self.interval / 10)),
                              args=(name,), id=f"poll-{name}", name=f"poll {name}", next_run_time=now)
        scheduler.add_job(self._deliver, IntervalTrigger(seconds=self.delivery_tick), id="deliver", name="deliver",
                          next_run_time=now)
        if self.app.intake is not None:
            scheduler.add_job(self._intake, IntervalTrigger(seconds=min(INTAKE_TICK, self.interval)), id="sopost",
                              name="sopost intake", next_run_time=now)
        if self.app.looker is not None:  # Voyado: the due look-ups, under the instance's one limiter
            scheduler.add_job(self._look_up, IntervalTrigger(seconds=self.delivery_tick), id="lookup", name="lookup",
                              next_run_time=now)
        if self.notifier.enabled and self.notifier.watchdog_interval:
            scheduler.add_job(self._watchdog, IntervalTrigger(seconds=self.notifier.watchdog_interval), id="watchdog",
                              name="systemd watchdog", executor=WATCHDOG_EXECUTOR, next_run_time=now,
                              misfire_grace_time=None)
        return scheduler

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> int:
        """Start the jobs, tell systemd we are ready, wait for SIGTERM/SIGINT, stop cleanly. Returns 0."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        apscheduler_log = logging.getLogger("apscheduler.scheduler")
        apscheduler_log.addFilter(_expected_skips)
        try:
            if self.listener is not None:
                self.listener.start()
            self.scheduler.start()
            log.info("service started: polling %s every %gs, delivering to %s (due rows checked every %gs)%s",
                     ", ".join(self.app.sources) or "nothing", self.interval, ", ".join(self.app.destinations) or "nothing",
                     self.delivery_tick, f"; systemd watchdog ping every {self.notifier.watchdog_interval:g}s"
                     if self.notifier.enabled and self.notifier.watchdog_interval else "")
            self.notifier.ready(status=f"polling {', '.join(self.app.sources)} every {self.interval:g}s")
            while not self._signals and not self.stop.wait(WAIT_STEP):
                pass
            reason = signal.Signals(self._signals[0]).name if self._signals else "stop requested"
            self.shutdown(reason)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            apscheduler_log.removeFilter(_expected_skips)
            self.notifier.close()
        return 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append(signum)  # no lock, no logging here: see the module docstring

    def shutdown(self, reason: str) -> None:
        """No new work; in-flight requests finish or time out; nothing of ours left in `sending`."""
        log.info("stopping (%s): no new polls or deliveries; waiting up to %gs for requests in flight",
                 reason, self.app.settings.http_timeout)
        self.notifier.stopping(status=f"stopping ({reason})")
        with self._wake_lock:
            self.stop.set()
        if self.listener is not None:
            try:
                self.listener.stop()
            except OSError:  # its sockets are closing anyway: a clean stop stays a clean stop (exit 0)
                log.warning("the listener did not stop cleanly", exc_info=True)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        released = self.release_claims()
        log.info("stopped cleanly%s", f"; {released} interrupted deliveries released for the next start" if released else "")

    def release_claims(self) -> int:
        """Rows this process claimed and never recorded (only after an unexpected error) become due again."""
        rows = self.app.ledger.deliveries(state=State.SENDING, claimed_by=process_token())
        for row in rows:
            try:
                self.app.ledger.record(row.id or 0, State.RETRYING, next_attempt_at=utcnow(),
                                       reason="interrupted by shutdown before its outcome was recorded; "
                                              "resent with the same order id")
            except LedgerUnavailable as exc:  # left in `sending`: the next start resends them just the same
                log.error("could not release %d interrupted deliveries: %s; the next start resends them", len(rows), exc)
                return 0
        return len(rows)

    # -- jobs --------------------------------------------------------------------------------

    def _poll(self, name: str) -> None:
        if self.stop.is_set():
            return
        try:
            reports = self.app.poll([name], stop=self.stop)
        except LedgerUnavailable as exc:
            log.error("poll of %s stopped: %s; the next poll tries again (the cursor stays)", name, exc)
            return
        except Exception:  # a job must never die silently, nor take the scheduler with it
            log.exception("poll of %s failed unexpectedly; the next poll tries again", name)
            return
        finished = utcnow()
        for report in reports:
            metrics.ORDERS_READ.labels(report.source).inc(report.seen)
        with self._status_lock:
            self._polls.update({r.source: (r, finished) for r in reports})
        self._publish_status()

    def _deliver(self) -> None:
        self._again_while_woken("deliver", self._deliver_once)

    def _again_while_woken(self, job_id: str, run: Callable[[], None]) -> None:
        """`run`, and again while a wake-up came during it (APScheduler skips one that finds the job running)."""
        again = self._woken[job_id]
        while True:
            again.clear()
            run()
            if self.stop.is_set() or not again.is_set():
                return

    def _deliver_once(self) -> None:
        if self.stop.is_set():
            return
        self.resume_paused()
        report = self._guarded("delivery pass", lambda: self.app.deliver(stop=self.stop))
        if report is None:
            return
        self.note_paused(report)
        delivered = report.count(State.DELIVERED)
        if delivered or report.states:
            with self._status_lock:
                self._delivered += delivered
            self._publish_status()

    def _intake(self) -> None:
        self._again_while_woken("sopost", self._intake_once)

    def _intake_once(self) -> None:
        if self.stop.is_set() or self.app.intake is None:
            return
        intake = self.app.intake
        report = self._guarded("SoPost intake pass", lambda: intake.run_due(stop=self.stop),
                               waiting="the events wait in the inbox")
        if report is not None and report.states:
            log.info("sopost intake: %s", report.describe())

    def wake(self, job_id: str) -> None:
        """Run job `job_id` now rather than at its next tick (never once the stop has begun)."""
        with self._wake_lock:
            if self.stop.is_set() or not self.scheduler.running:
                return
            self._woken[job_id].set()  # a pass already running goes round once more
            try:
                self.scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))
            except Exception:  # a missed wake-up only waits for the next tick
                log.debug("could not wake %s", job_id, exc_info=True)

    def _listener(self) -> Any:
        """The HTTP listener (connector.web) on CONNECTOR_LISTEN; None when it is empty."""
        if self.app.settings.listen is None:
            if self.app.intake is not None:
                log.warning("CONNECTOR_LISTEN is empty: no listener, so SoPost's webhooks cannot arrive (events "
                            "already in the inbox are still read)")
            return None
        from connector.web import Hook, Listener, WebApp

        hooks = {}
        if self.app.intake is not None:
            hooks["sopost"] = Hook(self.app.intake.source.settings.webhook_secret, self.app.intake.inbox,
                                   wake=lambda: self.wake("sopost"))
        web = WebApp(self.app.ledger, hooks=hooks, poll_interval=self.interval,
                     polled=lambda: [(name, source.store) for name, source in self.app.sources.items()])
        host, port = self.app.settings.listen
        return Listener(web, host, port)

    def _look_up(self) -> None:
        if self.stop.is_set():
            return
        self._guarded("look-up pass", lambda: self.app.look_up(stop=self.stop))

    @staticmethod
    def _guarded(what: str, run: Callable[[], T], waiting: str = "") -> T | None:
        """One pass of a job: its result, or None when it stopped; the next tick tries again either way."""
        try:
            return run()
        except LedgerUnavailable as exc:
            log.error("%s stopped: %s; %sthe next pass tries again", what, exc, f"{waiting}, " if waiting else "")
        except Exception:
            log.exception("%s failed unexpectedly; the next pass tries again", what)
        return None

    def _watchdog(self) -> None:
        self.notifier.watchdog()

    # -- paused destinations -----------------------------------------------------------------

    def note_paused(self, report: PassReport) -> None:
        """Start the clock for destinations the pass just paused (the Deliverer has logged the loud error)."""
        now = self.clock()
        for name in report.paused:
            if name not in self._paused_since:
                self._paused_since[name] = now
                log.warning("%s: its orders wait in the ledger; trying %s again in %d minutes "
                            "(or fix the credentials and restart the service)", name, name, round(self.pause_retry / 60))

    def resume_paused(self) -> list[str]:
        """Un-pause destinations whose pause has lasted `pause_retry`; the next pass tries them again."""
        now = self.clock()
        resumed = []
        for name in self.app.deliverer.paused:
            since = self._paused_since.setdefault(name, now)
            if now - since >= self.pause_retry:
                self.app.deliverer.resume(name)
                del self._paused_since[name]
                resumed.append(name)
                log.info("%s was paused %d minutes ago for refused credentials; trying it again", name,
                         round((now - since) / 60))
        return resumed

    # -- STATUS= -----------------------------------------------------------------------------

    def status_line(self) -> str:
        with self._status_lock:
            polls = [f"{r.source} poll failed at {at:%H:%M:%S}Z: {r.error}" if r.error
                     else f"{r.source} polled at {at:%H:%M:%S}Z: {r.seen} seen, {r.enqueued} queued"
                     for r, at in self._polls.values()]
            delivered = self._delivered
        paused = [f"{name} PAUSED (credentials)" for name in self.app.deliverer.paused]
        return redact("; ".join([*polls, f"{delivered} delivered since start", *self.backlog_parts(), *paused]))

    def backlog_parts(self) -> list[str]:
        """`sonarid: 102 undelivered, oldest 2h 3m` per destination that has a backlog."""
        try:
            backlogs = self.app.ledger.backlog()
        except LedgerUnavailable:
            return []
        now = utcnow()
        return [f"{name}: {b.count} undelivered, oldest {duration((now - b.oldest_since).total_seconds())}"
                + (f", failing since {b.failing_since:%Y-%m-%d %H:%M}Z" if b.failing_since else "")
                for name, b in sorted(backlogs.items()) if b.oldest_since is not None]

    def _publish_status(self) -> None:
        self.notifier.status(self.status_line())


_expected_skips = _ExpectedSkips()
