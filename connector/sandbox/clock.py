"""A store's clock for the sandboxes: the real time plus an offset (minutes off, either way) that a test moves on."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SkewedClock:
    """``clock=`` for a store sandbox: it stamps orders, filters windows and sends its `Date` header on it.

    ``SkewedClock(timedelta(minutes=-13))`` is a store 13 minutes behind this host; `advance` lets
    store time pass without the test waiting for it.
    """

    def __init__(self, offset: timedelta = timedelta()) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    @property
    def offset(self) -> timedelta:
        with self._lock:
            return self._offset

    def advance(self, **delta: float) -> None:
        """Move the store's time on, e.g. ``advance(minutes=2)``."""
        with self._lock:
            self._offset += timedelta(**delta)
