"""The service's wiring and its decisions, without waiting on a clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from apscheduler.job import Job
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import update
from sqlmodel import col

from connector import config
from connector.app import App
from connector.delivery import PassReport
from connector.ledger import Delivery, State
from connector.notify import Notifier
from connector.scheduler import PAUSE_RETRY, Service, _ExpectedSkips
from tests.unit.test_ledger import order


def make_app(tmp_path: Path, **extra: str) -> App:
    env = {
        "CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
        "WOOCOMMERCE_URL": "http://127.0.0.1:9",  # never contacted here
        "WOOCOMMERCE_CONSUMER_KEY": "ck_unit_key",
        "WOOCOMMERCE_CONSUMER_SECRET": "cs_unit_secret",
        "SONARID_API_KEY": "sk_unit_key",
        "SONARID_URL": "http://127.0.0.1:9",
        **extra,
    }
    return App(config.load(env))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    pipeline = make_app(tmp_path, CONNECTOR_POLL_INTERVAL="90")
    yield pipeline
    pipeline.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def started_paused(service: Service) -> dict[str, Job]:
    """Start without running anything, so APScheduler applies job_defaults; then read the jobs."""
    service.scheduler.start(paused=True)
    try:
        return {job.id: job for job in service.scheduler.get_jobs()}
    finally:
        service.scheduler.shutdown(wait=False)


def test_one_poll_job_per_source_and_a_delivery_job(app: App) -> None:
    jobs = started_paused(Service(app, Notifier({})))
    assert set(jobs) == {"poll-woocommerce", "deliver"}
    poll, deliver = jobs["poll-woocommerce"], jobs["deliver"]
    for job in (poll, deliver):
        assert job.max_instances == 1
        assert job.coalesce is True
        assert job.misfire_grace_time >= 90  # from job_defaults, not APScheduler's 1 s default
        assert job.next_run_time <= datetime.now(UTC)  # the first poll and pass run at start-up
    assert isinstance(poll.trigger, IntervalTrigger)
    assert poll.trigger.interval.total_seconds() == 90
    assert 0 < poll.trigger.jitter <= 5
    assert deliver.trigger.interval.total_seconds() == 5


def test_delivery_tick_never_exceeds_the_poll_interval(tmp_path: Path) -> None:
    pipeline = make_app(tmp_path, CONNECTOR_POLL_INTERVAL="1")
    try:
        jobs = started_paused(Service(pipeline, Notifier({})))
        assert jobs["deliver"].trigger.interval.total_seconds() == 1
        assert jobs["poll-woocommerce"].misfire_grace_time >= 1
    finally:
        pipeline.close()


def test_watchdog_job_only_when_systemd_asks(app: App, tmp_path: Path) -> None:
    assert "watchdog" not in started_paused(Service(app, Notifier({"NOTIFY_SOCKET": str(tmp_path / "s")})))
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "s"), "WATCHDOG_USEC": "20000000"})
    watchdog = started_paused(Service(app, notifier))["watchdog"]
    assert watchdog.trigger.interval.total_seconds() == 10  # half of WATCHDOG_USEC
    assert watchdog.executor == "watchdog"  # its own thread: busy jobs cannot starve the pings
    assert watchdog.misfire_grace_time is None


def test_a_paused_destination_is_tried_again_after_the_pause(app: App, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    service = Service(app, Notifier({}), clock=clock)
    assert app.deliverer.pause("sonarid", "sonarid refused our credentials (401); check SONARID_API_KEY")
    service.note_paused(PassReport(paused=dict(app.deliverer.paused)))
    assert "trying sonarid again in 15 minutes" in caplog.text

    clock.now += PAUSE_RETRY - 1
    assert service.resume_paused() == []
    assert "sonarid" in app.deliverer.paused

    clock.now += 1
    assert service.resume_paused() == ["sonarid"]
    assert app.deliverer.paused == {}

    # refused again: a new pause with a new clock
    app.deliverer.pause("sonarid", "again")
    service.note_paused(PassReport(paused=dict(app.deliverer.paused)))
    clock.now += PAUSE_RETRY / 2
    assert service.resume_paused() == []
    assert "sonarid PAUSED" in service.status_line()


def test_release_claims_frees_only_this_process_rows(app: App) -> None:
    ledger = app.ledger
    ledger.enqueue("woocommerce", "shop", [order("1"), order("2")], ["sonarid"])
    claims = ledger.claim("sonarid", 10, lease=600)
    assert len(claims) == 2
    with ledger.write() as s:
        s.exec(update(Delivery).where(col(Delivery.id) == claims[1].delivery_id).values(claimed_by="elsewhere:1"))

    assert Service(app, Notifier({})).release_claims() == 1
    states = {d.order_id: d.state for d in ledger.deliveries()}
    assert states == {"1": State.RETRYING, "2": State.SENDING}


def test_shutdown_stops_the_jobs_and_leaves_nothing_of_ours_in_sending(app: App) -> None:
    service = Service(app, Notifier({}))
    app.ledger.enqueue("woocommerce", "shop", [order("1")], ["sonarid"])
    app.ledger.claim("sonarid", 10, lease=600)
    service.scheduler.start(paused=True)
    service.shutdown("test")
    assert service.stop.is_set()
    assert not service.scheduler.running
    assert [d.state for d in app.ledger.deliveries()] == [State.RETRYING]


def test_jobs_do_nothing_once_stopping(app: App) -> None:
    service = Service(app, Notifier({}))
    app.ledger.enqueue("woocommerce", "shop", [order("1")], ["sonarid"])
    service.stop.set()
    service._deliver()
    service._poll("woocommerce")
    assert [d.state for d in app.ledger.deliveries()] == [State.PENDING]
    assert app.ledger.cursors() == []  # no poll was made, not even a failed one


def test_a_failing_job_logs_and_survives(app: App, caplog: pytest.LogCaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service(app, Notifier({}))

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("ledger on fire")

    monkeypatch.setattr(app, "deliver", broken)
    monkeypatch.setattr(app, "poll", broken)
    service._deliver()
    service._poll("woocommerce")
    assert "delivery pass failed unexpectedly" in caplog.text
    assert "poll of woocommerce failed unexpectedly" in caplog.text


def test_only_the_delivery_jobs_max_instance_skips_are_quiet() -> None:
    message = 'Execution of job "%s" skipped: maximum number of running instances reached (%d)'

    def record(job_id: str) -> logging.LogRecord:
        return logging.LogRecord("apscheduler.scheduler", logging.WARNING, __file__, 1, message,
                                 (SimpleNamespace(id=job_id), 1), None)

    quiet = _ExpectedSkips()
    assert quiet.filter(record("deliver")) is False
    assert quiet.filter(record("poll-woocommerce")) is True
    other = logging.LogRecord("apscheduler.scheduler", logging.INFO, __file__, 1, "Scheduler started", (), None)
    assert quiet.filter(other) is True


def test_signals_only_append(app: App) -> None:
    import signal

    service = Service(app, Notifier({}))
    service._on_signal(signal.SIGTERM, None)
    assert service._signals == [signal.SIGTERM]
    assert not service.stop.is_set()  # the main thread does the rest, outside the handler


def test_only_the_deliverer_pauses_and_resumes(app: App) -> None:
    shown = app.deliverer.paused
    shown["sonarid"] = "written into a copy"
    assert app.deliverer.paused == {}  # what others see is a copy: the deliverer alone changes it, under its lock
    assert app.deliverer.pause("sonarid", "refused") and not app.deliverer.pause("sonarid", "refused again")
    assert app.deliverer.paused == {"sonarid": "refused again"}
    assert app.deliverer.resume("sonarid") and not app.deliverer.resume("sonarid")
