"""The ledger writer's outcome records: several handed in at once go in as one executemany, and a record
that cannot be written (a vanished row, an error) loses none of the others (each then in its own savepoint)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from sqlalchemy import delete
from sqlmodel import select

from connector.ledger import Attempt, Delivery, Ledger, State
from connector.ledger_writer import Writer
from tests.unit.test_ledger import order


class FailingLedger(Ledger):
    """`record` (and so `record_many`) of delivery `failing` raises."""

    failing: int | None = None

    def record(self, delivery_id: int, state: State, **kwargs: Any) -> None:
        if delivery_id == self.failing:
            raise RuntimeError("this one cannot be written")
        super().record(delivery_id, state, **kwargs)

    def record_many(self, outcomes: Any, **kwargs: Any) -> None:
        if any(delivery_id == self.failing for delivery_id, _, _ in outcomes):
            raise RuntimeError("this one cannot be written")
        super().record_many(outcomes, **kwargs)


@pytest.fixture
def ledger(database_url: str) -> Iterator[FailingLedger]:
    ledger = FailingLedger(database_url)
    yield ledger
    ledger.close()


def claimed(ledger: Ledger, count: int) -> list[int]:
    ledger.enqueue("woocommerce", "shop", [order(str(i)) for i in range(1, count + 1)], ["sonarid"])
    return [c.delivery_id for c in ledger.claim("sonarid", count, lease=60)]


def record_at_once(ledger: Ledger, writer: Writer, ids: list[int]) -> list[BaseException | None]:
    """Every id's outcome handed to the writer while it is busy, so that they meet in one batch."""
    busy, release = threading.Event(), threading.Event()

    def hold() -> None:
        busy.set()
        release.wait(10)

    def one(delivery_id: int) -> BaseException | None:
        outcome = {"status_code": 200, "reference": f"ref-{delivery_id}"}
        job = partial(ledger.record, delivery_id, State.DELIVERED, **outcome)
        try:
            writer.run(job, outcome=(delivery_id, State.DELIVERED, outcome))
        except Exception as exc:  # noqa: BLE001 - returned to the test
            return exc
        return None

    with ThreadPoolExecutor(len(ids) + 1) as pool:
        holding = pool.submit(writer.run, hold)
        assert busy.wait(10)
        results = [pool.submit(one, i) for i in ids]
        while writer._queue.qsize() < len(ids):  # every record queued behind the busy job
            threading.Event().wait(0.01)
        release.set()
        holding.result()
        return [r.result() for r in results]


def states(ledger: Ledger) -> dict[int, tuple[str, str | None, int]]:
    with ledger.read() as s:
        attempts = [a.delivery_id for a in s.exec(select(Attempt))]
        return {d.id: (d.state, d.reference, attempts.count(d.id)) for d in s.exec(select(Delivery))  # type: ignore[misc]
                if d.id is not None}


def test_outcomes_handed_in_together_are_recorded_as_one_executemany(ledger: FailingLedger) -> None:
    ids = claimed(ledger, 5)
    writer = Writer(ledger)
    try:
        assert record_at_once(ledger, writer, ids) == [None] * 5
    finally:
        writer.close()
    assert writer.grouped == 5
    assert states(ledger) == {i: ("delivered", f"ref-{i}", 1) for i in ids}


def test_a_vanished_row_among_them_leaves_the_others_recorded(ledger: FailingLedger) -> None:
    ids = claimed(ledger, 4)
    with ledger.write() as s:
        s.exec(delete(Attempt).where(Attempt.delivery_id == ids[1]))  # type: ignore[call-overload, arg-type]
        s.exec(delete(Delivery).where(Delivery.id == ids[1]))  # type: ignore[call-overload, arg-type]
    writer = Writer(ledger)
    try:
        assert record_at_once(ledger, writer, ids) == [None] * 4  # `record` never raises on a vanished row
    finally:
        writer.close()
    assert writer.grouped == 0  # one by one
    assert states(ledger) == {i: ("delivered", f"ref-{i}", 1) for i in ids if i != ids[1]}


def test_a_record_that_fails_fails_alone(ledger: FailingLedger) -> None:
    ids = claimed(ledger, 4)
    ledger.failing = ids[2]
    writer = Writer(ledger)
    try:
        results = record_at_once(ledger, writer, ids)
    finally:
        writer.close()
    assert [type(r).__name__ if r else None for r in results] == [None, None, "RuntimeError", None]
    recorded = states(ledger)
    assert recorded[ids[2]] == ("sending", None, 0)
    assert {i: recorded[i] for i in ids if i != ids[2]} == {i: ("delivered", f"ref-{i}", 1) for i in ids if i != ids[2]}
