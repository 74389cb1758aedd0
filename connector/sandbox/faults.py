"""Injected failures: each one is consumed by the next request(s) it matches.

A fault models what sits in front of a real service (a host, a WAF, a flaky network), so the
server applies it before any routing or authentication.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal, get_args

FaultKind = Literal["status", "429", "slow", "drop", "drop_after", "non_json"]
"""
- ``status``: answer ``status`` (default 500) with the vendor's error body; ``retry_after`` adds Retry-After.
- ``429``: answer 429 with ``Retry-After: retry_after`` (default 1).
- ``slow``: sleep ``delay`` seconds (default 1.0), then handle the request normally.
- ``drop``: read the request, then close the connection without any response; nothing is processed.
- ``drop_after``: handle the request normally (state changes happen), then close without a response:
  the client cannot know whether it worked, as when a response is lost on the way back.
- ``non_json``: answer ``status`` (default 200) with an HTML page (``Content-Type: text/html``), like a
  host's captcha or maintenance page.
"""

FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

RetryAfter = int | float | str


@dataclass(frozen=True)
class Fault:
    """One injected failure, as it applies to a single request."""

    kind: FaultKind
    status: int | None = None
    retry_after: RetryAfter | None = None
    delay: float | None = None
    path: str | None = None

    def matches(self, path: str) -> bool:
        return self.path is None or path.startswith(self.path)

    @property
    def retry_after_header(self) -> str | None:
        """The Retry-After header value, or None when the fault sets none."""
        value = self.retry_after
        if value is None:
            return None
        if isinstance(value, str):
            return value
        return str(int(value)) if float(value).is_integer() else format(value, "g")


@dataclass
class _Entry:
    fault: Fault
    remaining: int


class Faults:
    """A thread-safe queue of faults; the oldest matching one is used first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []

    def add(
        self,
        kind: FaultKind,
        times: int = 1,
        *,
        status: int | None = None,
        retry_after: RetryAfter | None = None,
        delay: float | None = None,
        path: str | None = None,
    ) -> Fault:
        """Queue a fault for the next ``times`` requests whose path starts with ``path`` (any path if None)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        if kind == "status":
            status = 500 if status is None else status
            if not 400 <= status <= 599:
                raise ValueError("a 'status' fault needs an error status between 400 and 599")
        elif kind == "non_json":
            status = 200 if status is None else status
        elif kind == "429":
            status = 429
            retry_after = 1 if retry_after is None else retry_after
        elif status is not None:
            raise ValueError(f"a {kind!r} fault takes no status")
        if kind == "slow":
            delay = 1.0 if delay is None else delay
            if delay < 0:
                raise ValueError("delay must not be negative")
        elif delay is not None:
            raise ValueError("only a 'slow' fault takes a delay")
        if path is not None and not path.startswith("/"):
            raise ValueError("path must start with '/'")
        fault = Fault(kind=kind, status=status, retry_after=retry_after, delay=delay, path=path)
        with self._lock:
            self._entries.append(_Entry(fault, times))
        return fault

    def take(self, path: str) -> Fault | None:
        """Consume one use of the oldest fault matching ``path``."""
        with self._lock:
            for index, entry in enumerate(self._entries):
                if entry.fault.matches(path):
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        del self._entries[index]
                    return entry.fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @property
    def pending(self) -> list[tuple[Fault, int]]:
        """The queued faults with the number of uses left, oldest first."""
        with self._lock:
            return [(entry.fault, entry.remaining) for entry in self._entries]

    def __len__(self) -> int:
        with self._lock:
            return sum(entry.remaining for entry in self._entries)
