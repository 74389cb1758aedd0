"""One thread writes the delivery pass's claims and outcomes: what the workers hand it meanwhile goes in one
transaction (group commit), instead of a dozen threads each taking SQLite's write lock for one row.

A worker's call blocks until its job is committed and returns the job's result (or raises its exception,
or the batch's when the commit failed), so every caller sees exactly what a direct `Ledger` call would show
it: an outcome is recorded before the worker moves on, `LedgerUnavailable` still reaches its retries.
Each job is a savepoint of the batch's transaction (`Ledger.batch`): one that fails undoes only itself.
Outcome records handed in one after another (`run(job, outcome=...)`) go in as one executemany
(`Ledger.record_many`, one savepoint); when that writes nothing (a vanished row, an error), each one's
job runs in its own savepoint as any other, so a failing record still loses none of the others.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

from connector.ledger import Ledger, State

#: what `Ledger.record(delivery_id, state, **outcome)` is called with
Outcome = tuple[int, State, Mapping[str, Any]]

T = TypeVar("T")
MAX_BATCH = 256  # jobs per transaction at most

_Job = tuple[Callable[[], Any], "Future[Any]", Outcome | None]


class Writer:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = self.jobs = self.grouped = 0  # transactions committed, jobs run, records by executemany

    def run(self, job: Callable[[], T], *, outcome: Outcome | None = None) -> T:
        """`job()` (which writes through the ledger) in the writer's next transaction; its result once committed.

        `outcome`: the job records exactly `Ledger.record(*outcome)` and returns None (or raises); it may then
        go in with its neighbours' outcomes in one executemany instead of running (`job` is the fallback)."""
        if threading.current_thread() is self._thread:
            return job()
        future: Future[T] = Future()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="ledger-writer", daemon=True)
                self._thread.start()
            self._queue.put((job, future, outcome))
        return future.result()

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stopping = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._write(batch)
            if stopping:
                return

    def _write(self, batch: list[_Job]) -> None:
        done: list[tuple[Future[Any], bool, Any]] = []
        grouped = 0
        try:
            with self.ledger.batch():
                records: list[_Job] = []  # outcome records in a row, not run yet
                for item in [*batch, None]:
                    if item is not None and item[2] is not None:
                        records.append(item)
                        continue
                    if len(records) > 1 and self._record_many(records):
                        done += [(future, True, None) for _, future, _ in records]
                        grouped += len(records)
                        records = []
                    for job, future, _ in [*records, *([item] if item is not None else [])]:
                        try:
                            done.append((future, True, job()))
                        except Exception as exc:  # noqa: BLE001 - handed to the caller, which decides
                            done.append((future, False, exc))
                    records = []
        except BaseException as exc:  # noqa: BLE001 - BEGIN or the commit failed: nothing of the batch was written
            for _, future, _ in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        self.grouped += grouped
        self.jobs += len(batch)
        for future, ok, value in done:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _record_many(self, records: list[_Job]) -> bool:
        """The records' outcomes as one executemany (a savepoint); False when it wrote nothing (run them one by one)."""
        try:
            self.ledger.record_many([outcome for _, _, outcome in records if outcome is not None])
        except Exception:  # noqa: BLE001 - whatever it was, each job meets it again (or not) on its own
            return False
        return True
