"""BigCommerce's per-store API quota: so many requests per fixed window, shared by every app on the store."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

Headers = list[tuple[str, str]]


class Quota:
    """`quota` requests per `window_ms`; None means unlimited (no rate-limit headers at all).

    A window opens with the first request after the previous one ended; the store's other apps
    spend `other_apps` requests of each window as it opens. Every answer carries
    `X-Rate-Limit-Time-Window-Ms`, `-Time-Reset-Ms`, `-Requests-Quota` and `-Requests-Left`; a
    request over the quota is refused (429) and counted in `refused`.
    """

    def __init__(self, quota: int | None = 150, window_ms: int = 30_000, *, other_apps: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if quota is not None and quota < 1:
            raise ValueError("quota must be at least 1 (or None for unlimited)")
        if window_ms < 1:
            raise ValueError("window_ms must be at least 1")
        if other_apps < 0 or (quota is not None and other_apps >= quota):
            raise ValueError("other_apps must leave part of the quota")
        self.quota = quota
        self.window_ms = window_ms
        self.other_apps = other_apps
        self.clock = clock
        self.refused = 0  # requests answered 429 because the quota was spent
        self.served = 0  # requests counted against the quota
        self._lock = threading.Lock()
        self._started: float | None = None
        self._used = 0

    def take(self) -> tuple[bool, Headers]:
        """Count one request: (allowed, the rate-limit headers for its answer)."""
        with self._lock:
            if self.quota is None:
                self.served += 1
                return True, []
            self._roll()
            allowed = self._used < self.quota
            if allowed:
                self._used += 1
                self.served += 1
            else:
                self.refused += 1
            return allowed, self._headers()

    def spend(self, requests: int) -> None:
        """Requests made by the store's other apps: they count against the same quota."""
        with self._lock:
            if self.quota is None:
                return
            self._roll()
            self._used = min(self.quota, self._used + requests)

    def _roll(self) -> None:
        now = self.clock()
        if self._started is None or (now - self._started) * 1000 >= self.window_ms:
            self._started, self._used = now, self.other_apps

    def _headers(self) -> Headers:
        assert self.quota is not None and self._started is not None
        reset = max(0, math.ceil(self.window_ms - (self.clock() - self._started) * 1000))
        return [
            ("X-Rate-Limit-Time-Window-Ms", str(self.window_ms)),
            ("X-Rate-Limit-Time-Reset-Ms", str(reset)),
            ("X-Rate-Limit-Requests-Quota", str(self.quota)),
            ("X-Rate-Limit-Requests-Left", str(max(0, self.quota - self._used))),
        ]
