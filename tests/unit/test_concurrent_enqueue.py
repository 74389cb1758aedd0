"""Two processes recording the same new order at once (a poll and a backfill): one order, its deliveries once.

On PostgreSQL nothing serialises the two transactions: the later INSERT of the order waits for the other's
commit, then breaks the UNIQUE key; `Ledger.enqueue` runs its transaction again and finds the order. (Before,
the IntegrityError ended the backfill with "unexpected failure"; found by tests/e2e/test_instances_postgresql.py.)
On SQLite, BEGIN IMMEDIATE makes the later one wait for the other's commit before it reads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text
from sqlmodel import select

from connector.ledger import EnqueueResult, Ledger, OrderRecord
from tests.unit.test_ledger import T0, order
from tests.waiting import wait_for


def _backend_pid(ledger: Ledger) -> int:
    with ledger.engine.connect() as connection:  # the pool's one connection, which the next transaction reuses
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _waits_for_a_lock(ledger: Ledger, pid: int) -> bool:
    with ledger.engine.connect() as connection:
        return bool(connection.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid "
                                            "AND wait_event_type = 'Lock'"), {"pid": pid}).scalar_one())


def test_the_same_new_order_recorded_by_two_processes_at_once_is_recorded_once(database_url: str) -> None:
    first, second, watcher = Ledger(database_url), Ledger(database_url), Ledger(database_url)
    postgresql = database_url.startswith("postgresql")
    new = order("7")
    try:
        pid = _backend_pid(second) if postgresql else 0
        with ThreadPoolExecutor(max_workers=1) as pool:
            with first.write() as s:  # the poll: its INSERT done, not committed yet
                s.add(OrderRecord(source="woocommerce", store="shop", order_id="7", number="7", status="processing",
                                  content_hash=new.content_hash(), data=new.model_dump_json(), modified_at=T0,
                                  first_seen_at=T0, updated_at=T0))
                s.flush()
                backfill = pool.submit(second.enqueue, "woocommerce", "shop", [new], ["sonarid", "sophio"], now=T0)
                if postgresql:  # the backfill's INSERT of the same order waits for the poll's transaction
                    wait_for(lambda: _waits_for_a_lock(watcher, pid) or backfill.done(), "the second INSERT to wait")
                assert not backfill.done()
            result = backfill.result(timeout=60)
        assert result == EnqueueResult(seen=1, new_orders=0, new_deliveries=2, requeued=0, rejected=0)
        assert [o.order_id for o in _orders(watcher)] == ["7"]
        assert sorted(d.destination for d in watcher.deliveries()) == ["sonarid", "sophio"]
    finally:
        for ledger in (first, second, watcher):
            ledger.close()


def _orders(ledger: Ledger) -> list[OrderRecord]:
    with ledger.read() as s:
        return list(s.exec(select(OrderRecord)).all())
