"""The webhook inbox on each backend: UNIQUE event ids, leases, and the order recorded with the event closed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from connector.inbox import EventState, Inbox, InboxEvent
from connector.ledger import Delivery, Ledger, State, utcnow
from connector.sources.sopost import parse_order

GUIDE = json.loads((Path(__file__).resolve().parents[1] / "examples" / "sopost_guide_order.json").read_text())


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    ledger = Ledger(database_url)
    yield ledger
    ledger.close()


def test_an_event_is_stored_once(ledger: Ledger) -> None:
    inbox = Inbox(ledger, "sopost")
    assert inbox.receive("e1", "APPROVED", "o1", "a1") is True
    assert inbox.receive("e1", "APPROVED", "o1", "a1") is False
    assert inbox.receive("e2", "PENDING", "o1", "a1") is True
    assert [(e.event_id, e.state) for e in inbox.events()] == [("e1", "waiting"), ("e2", "waiting")]
    assert Inbox(ledger, "other").receive("e1", "APPROVED", "o1", "a1") is True  # per source


def test_claims_lease_events_and_later_makes_them_due_again(ledger: Ledger) -> None:
    inbox = Inbox(ledger, "sopost")
    for n in range(3):
        inbox.receive(f"e{n}", "APPROVED", f"o{n}", "a")
    first = inbox.claim(2, lease=60)
    assert [e.event_id for e in first] == ["e0", "e1"] and all(e.attempts == 1 for e in first)
    assert [e.event_id for e in inbox.claim(5, lease=60)] == ["e2"]  # the leased ones are not claimed twice
    assert inbox.claim(5, lease=60) == []
    inbox.later(first[0].id or 0, EventState.PENDING, "not decided", at=utcnow() - timedelta(seconds=1))
    inbox.close(first[1].id or 0, EventState.REJECTED, "rejected")
    [again] = inbox.claim(5, lease=60)
    assert (again.event_id, again.attempts) == ("e0", 2)
    summary = inbox.summary()
    assert summary.counts["rejected"] == 1 and summary.counts["waiting"] == 1 and summary.counts["pending"] == 1


def test_the_order_is_enqueued_in_the_transaction_that_closes_its_event(ledger: Ledger) -> None:
    inbox = Inbox(ledger, "sopost")
    inbox.receive("e1", "APPROVED", GUIDE["id"], "a")
    [event] = inbox.claim(1, lease=60)
    order = parse_order(GUIDE, store="org")
    result = inbox.close_with_order(event.id or 0, order, "org", ["sonarid", "sophio"],
                                    skipped={"sophio": "no consent"})
    assert result.new_deliveries == 2
    [closed] = inbox.events()
    assert (closed.state, closed.order_status, closed.lease_until) == ("done", "APPROVED", None)
    states = {d.destination: (d.state, d.reason) for d in ledger.deliveries(order_id=GUIDE["id"])}
    assert states == {"sonarid": (State.PENDING, None), "sophio": (State.SKIPPED, "no consent")}
    # read again after a change (e.g. APPROVED → DISPATCHED): the consent skip stays
    changed = order.model_copy(update={"status": "DISPATCHED"})
    inbox.receive("e2", "DISPATCHED", GUIDE["id"], "a")
    [second] = inbox.claim(1, lease=60)
    inbox.close_with_order(second.id or 0, changed, "org", ["sonarid", "sophio"], skipped={"sophio": "no consent"})
    assert {d.destination: d.state for d in ledger.deliveries(order_id=GUIDE["id"])} == {
        "sonarid": State.PENDING, "sophio": State.SKIPPED}


def test_a_failure_inside_the_transaction_leaves_the_event_open_and_nothing_enqueued(ledger: Ledger) -> None:
    inbox = Inbox(ledger, "sopost")
    inbox.receive("e1", "APPROVED", GUIDE["id"], "a")
    [event] = inbox.claim(1, lease=60)
    order = parse_order(GUIDE, store="org")

    class Boom(Exception):
        pass

    original = inbox._update

    def failing(*args: object, **kwargs: object) -> None:
        raise Boom

    inbox._update = failing  # type: ignore[method-assign]
    with pytest.raises(Boom):
        inbox.close_with_order(event.id or 0, order, "org", ["sonarid"])
    inbox._update = original  # type: ignore[method-assign]
    assert ledger.deliveries() == [] and ledger.order("sopost", "org", GUIDE["id"]) is None
    with ledger.read() as s:
        assert s.exec(select(InboxEvent.state)).all() == ["waiting"]


def test_a_lease_held_by_a_gone_process_of_this_host_is_freed(ledger: Ledger) -> None:
    inbox = Inbox(ledger, "sopost")
    inbox.receive("e1", "APPROVED", "o1", "a")
    inbox.claim(1, lease=600)
    with ledger.write() as s:
        row = s.exec(select(InboxEvent)).one()
        row.claimed_by = f"{row.claimed_by.rsplit(':', 1)[0]}:999999999" if row.claimed_by else None
        s.add(row)
    assert inbox.claim(1, lease=600) == []
    assert inbox.recover() == 1
    assert [e.event_id for e in inbox.claim(1, lease=600)] == ["e1"]


def test_deliveries_table_is_untouched_by_receiving(ledger: Ledger) -> None:
    Inbox(ledger, "sopost").receive("e1", "APPROVED", "o1", "a")
    with ledger.read() as s:
        assert s.exec(select(Delivery)).all() == []
