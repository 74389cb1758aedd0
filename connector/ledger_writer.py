"""One thread writes the delivery pass's claims and outcomes: what the workers hand it meanwhile goes in one
transaction (group commit), instead of a dozen threads each taking SQLite's write lock for one row.

A worker's call blocks until its job is committed and returns the job's result (or raises its exception,
or the batch's when the commit failed), so every caller sees exactly what a direct `Ledger` call would show
it: an outcome is recorded before the worker moves on, `LedgerUnavailable` still reaches its retries.
Each job is a savepoint of the batch's transaction (`Ledger.batch`): one that fails undoes only itself.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from connector.ledger import Ledger

T = TypeVar("T")
MAX_BATCH = 256  # jobs per transaction at most

_Job = tuple[Callable[[], Any], "Future[Any]"]


class Writer:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = self.jobs = 0  # transactions committed, jobs run: for the benchmark

    def run(self, job: Callable[[], T]) -> T:
        """`job()` (which writes through the ledger) in the writer's next transaction; its result once committed."""
        if threading.current_thread() is self._thread:
            return job()
        future: Future[T] = Future()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="ledger-writer", daemon=True)
                self._thread.start()
            self._queue.put((job, future))
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
        try:
            with self.ledger.batch():
                for job, future in batch:
                    try:
                        done.append((future, True, job()))
                    except Exception as exc:  # noqa: BLE001 - handed to the caller, which decides
                        done.append((future, False, exc))
        except BaseException as exc:  # noqa: BLE001 - BEGIN or the commit failed: nothing of the batch was written
            for _, future in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        self.jobs += len(batch)
        for future, ok, value in done:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
