"""The SoPost intake's decisions on the order as read, and the one outcome policy for its reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connector.adapters import Secret
from connector.inbox import EventState, Inbox
from connector.ledger import Ledger, State, utcnow
from connector.sandbox import SoPostSandbox, sample_sopost_order
from connector.sandbox.sopost import ORGANISATION
from connector.sopost_intake import PENDING_FOR, Intake
from connector.sources.sopost import SoPost, SoPostSettings


@pytest.fixture
def sopost() -> Iterator[SoPostSandbox]:
    with SoPostSandbox() as server:
        yield server


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'c.db'}")
    yield ledger
    ledger.close()


def intake(ledger: Ledger, sopost: SoPostSandbox, **settings: object) -> Intake:
    values: dict[str, object] = {"api_url": sopost.url, "api_key": Secret(sopost.api_key),
                                 "api_secret": Secret(sopost.api_secret), "webhook_secret": Secret("w" * 20),
                                 "organisation_id": ORGANISATION, **settings}
    return Intake(ledger, SoPost(SoPostSettings(**values)), ["sonarid"], retry_base=30)  # type: ignore[arg-type]


def receive(ledger: Ledger, order_id: str, event_id: str = "e1") -> None:
    Inbox(ledger, "sopost").receive(event_id, "APPROVED", order_id, "a")


def event_state(ledger: Ledger) -> tuple[str, str | None]:
    [event] = Inbox(ledger, "sopost").events()
    return event.state, event.reason


def test_an_approved_order_is_queued_and_its_event_closed(ledger: Ledger, sopost: SoPostSandbox) -> None:
    order_id = sopost.add_order(sample_sopost_order(1))
    receive(ledger, order_id)
    report = intake(ledger, sopost).run_due()
    assert (report.states, report.enqueued) == ({"done": 1}, 1)
    assert event_state(ledger)[0] == "done"
    assert [(d.destination, d.state) for d in ledger.deliveries(order_id=order_id)] == [("sonarid", State.PENDING)]


def test_a_status_not_sent_on_is_ignored_and_one_in_sopost_statuses_is_taken(ledger: Ledger, sopost: SoPostSandbox) -> None:
    order_id = sopost.add_order(sample_sopost_order(2, status="DISPATCHED"))
    receive(ledger, order_id)
    intake(ledger, sopost).run_due()
    assert event_state(ledger) == ("ignored", "status DISPATCHED is not in SOPOST_STATUSES (APPROVED)")
    receive(ledger, order_id, "e2")
    intake(ledger, sopost, statuses=("APPROVED", "DISPATCHED")).run_due()
    assert ledger.deliveries(order_id=order_id)


def test_pending_is_read_again_later_with_backoff_and_given_up_after_a_day(ledger: Ledger, sopost: SoPostSandbox) -> None:
    order_id = sopost.add_order(sample_sopost_order(3, status="PENDING"))
    receive(ledger, order_id)
    job = intake(ledger, sopost)
    before = utcnow()
    job.run_due()
    [event] = Inbox(ledger, "sopost").events()
    assert event.state == "pending" and event.next_attempt_at is not None
    assert timedelta(seconds=4) < event.next_attempt_at - before < timedelta(seconds=7)  # PENDING_FIRST, 5 s
    assert job.run_due().states == {}  # not due yet: SoPost is not asked again
    with ledger.write() as s:
        row = s.get(type(event), event.id)
        assert row is not None
        row.next_attempt_at = utcnow()
        row.received_at = utcnow() - timedelta(seconds=PENDING_FOR + 60)
        s.add(row)
    job.run_due()
    assert event_state(ledger) == ("failed", "still PENDING at SoPost a day after its event")


def test_refused_credentials_pause_the_intake_and_keep_the_event(ledger: Ledger, sopost: SoPostSandbox) -> None:
    order_id = sopost.add_order(sample_sopost_order(4))
    receive(ledger, order_id)
    job = intake(ledger, sopost, api_secret=Secret("wrong-secret"))
    report = job.run_due()
    assert report.stopped and "SOPOST_API_KEY / SOPOST_API_SECRET" in report.stopped
    assert event_state(ledger)[0] == "waiting"
    asked = len(sopost.requests)
    assert job.run_due().stopped == "paused: SoPost refused our credentials" and len(sopost.requests) == asked


def test_a_5xx_is_retried_later_and_a_long_retry_after_waits_in_the_inbox(ledger: Ledger, sopost: SoPostSandbox) -> None:
    order_id = sopost.add_order(sample_sopost_order(5))
    receive(ledger, order_id)
    sopost.faults.add("status", times=2, status=503, path=f"/orders/{order_id}")
    intake(ledger, sopost).run_due()
    state, reason = event_state(ledger)
    assert state == "retrying" and "HTTP 503" in (reason or "") and sopost.fetches(order_id) == 2  # one quick try
    sopost.reset_requests()
    receive(ledger, order_id, "e2")
    sopost.faults.add("429", retry_after=120, path=f"/orders/{order_id}")
    before = utcnow()
    intake(ledger, sopost).run_due()
    second = Inbox(ledger, "sopost").events()[1]
    assert sopost.fetches(order_id) == 1  # no quick try: the wait asked for is long
    assert second.state == "retrying" and second.next_attempt_at is not None
    assert second.next_attempt_at - before >= timedelta(seconds=119)


def test_an_order_sopost_does_not_have_closes_its_event_failed(ledger: Ledger, sopost: SoPostSandbox) -> None:
    receive(ledger, "5050dead-0000-4000-8000-000000000000")
    intake(ledger, sopost).run_due()
    assert event_state(ledger)[0] == EventState.FAILED and ledger.deliveries() == []


def test_a_malformed_order_is_recorded_with_its_reason(ledger: Ledger, sopost: SoPostSandbox) -> None:
    order = sample_sopost_order(6)
    order["address"]["territory"] = "ZZZ"
    sopost.add_order(order)
    receive(ledger, order["id"])
    intake(ledger, sopost).run_due()
    [row] = ledger.deliveries(order_id=order["id"])
    assert row.state == State.DEAD and "territory" in (row.reason or "")
