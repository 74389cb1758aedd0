"""Waiting on a condition, never on a fixed sleep: the one helper every test uses.

`wait_for` returns the condition's first truthy value as soon as it holds, and fails the test naming
what it waited for when the deadline passes first. The deadline is a limit, not an expected duration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE = 20.0  # seconds


def wait_for(condition: Callable[[], T], what: str, deadline: float = DEADLINE, every: float = 0.02) -> T:
    end = time.monotonic() + deadline
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {deadline:g}s waiting for {what}")
        time.sleep(every)
