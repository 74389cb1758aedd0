"""A platform's request quota as its rate-limit headers report it, and the pause that keeps us inside it.

BigCommerce answers every request with (names case-insensitive; read by `connector.outcomes.Reading`):
`X-Rate-Limit-Requests-Quota` (requests per window), `X-Rate-Limit-Time-Window-Ms`,
`X-Rate-Limit-Requests-Left` and `X-Rate-Limit-Time-Reset-Ms` (ms until the window resets).
The quota is shared by every app on the store, so we stop while some requests are still
left (the headroom) and wait for the reset instead of spending the last ones and meeting a 429.
Headers may be missing (unlimited plans, proxies, platform-load 429s) or partial: each is read
on its own, and with nothing known there is no pause.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping

from connector.outcomes import LEFT, QUOTA, RESET, WINDOW, Reading

__all__ = ["LEFT", "MARGIN", "QUOTA", "RESET", "WINDOW", "RateLimit", "Reading"]

MARGIN = 0.05  # seconds added to a reset wait: the window must really be over when we send again
CONCURRENCY = 8  # requests in flight at most through one quota


class RateLimit:
    """Pauses before the quota is spent. `observe` every answer; `delay` says how long to wait before the next."""

    def __init__(self, *, headroom: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 <= headroom < 1:
            raise ValueError("headroom is a fraction of the quota in [0, 1)")
        self.headroom = headroom
        self.clock = clock
        self.quota: int | None = None
        self.window: float | None = None
        self.left: int | None = None
        self.reset_at: float | None = None
        self.paused = 0.0  # seconds spent waiting for resets, in total
        self._lock = threading.RLock()  # several threads send through one quota (`concurrency`)

    @property
    def concurrency(self) -> int:
        """Requests that may be in flight at once: no more than the reserve (each answer's `left` can be
        behind by the requests still in flight, which the reserve absorbs), at most CONCURRENCY."""
        return max(1, min(CONCURRENCY, self.reserve if self.quota is not None else CONCURRENCY))

    @property
    def reserve(self) -> int:
        """Requests left for the store's other apps: a share of the quota, at least one."""
        return max(1, math.ceil((self.quota or 0) * self.headroom))

    @property
    def per_window(self) -> int | None:
        """Requests we spend per window (None while the quota is unknown)."""
        return None if self.quota is None else max(1, self.quota - self.reserve)

    def observe(self, headers: Mapping[str, str]) -> Reading:
        with self._lock:
            return self._observe(headers)

    def _observe(self, headers: Mapping[str, str]) -> Reading:
        reading = Reading.of(headers)
        now = self.clock()
        if reading.quota is not None:
            self.quota = reading.quota
        if reading.window is not None:
            self.window = reading.window
        if reading.left is not None:
            self.left = reading.left
            self.reset_at = now + reading.reset if reading.reset is not None else None
        return reading

    def delay(self) -> float:
        """Seconds to wait before the next request (0 when the quota allows it now)."""
        if self.left is None or self.left > self.reserve:
            return 0.0
        now = self.clock()
        if self.reset_at is None:  # spent, but the reset is unknown: wait a window (or a second)
            self.reset_at = now + (self.window or 1.0)
        wait = self.reset_at - now
        if wait <= 0:
            self.left = None  # a new window: its state comes with the next answer
            return 0.0
        return wait + MARGIN

    def wait(self, sleep: Callable[[float], None] = time.sleep) -> float:
        """Sleep until the quota allows the next request; the other threads wait behind this one meanwhile."""
        with self._lock:
            return self._wait(sleep)

    def _wait(self, sleep: Callable[[float], None]) -> float:
        seconds = self.delay()
        if seconds > 0:
            sleep(seconds)
            self.paused += seconds
            self.left = None
        return seconds

    def seconds_for(self, requests: int) -> float | None:
        """The least time `requests` take at this quota with our headroom (None while it is unknown)."""
        if self.per_window is None or self.window is None:
            return None
        windows = math.ceil(requests / self.per_window)
        return max(0, windows - 1) * self.window
