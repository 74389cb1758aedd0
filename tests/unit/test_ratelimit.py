"""The pause before a platform's quota is spent, read from its rate-limit headers (no real time passes)."""

from __future__ import annotations

import pytest

from connector.sources.ratelimit import MARGIN, RateLimit, Reading


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def headers(left: int, reset_ms: int, quota: int = 150, window_ms: int = 30_000) -> dict[str, str]:
    return {"X-Rate-Limit-Requests-Left": str(left), "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
            "X-Rate-Limit-Requests-Quota": str(quota), "X-Rate-Limit-Time-Window-Ms": str(window_ms)}


def test_no_pause_while_more_than_the_headroom_is_left() -> None:
    clock = FakeClock()
    limit = RateLimit(clock=clock)
    limit.observe(headers(left=16, reset_ms=20_000))
    assert limit.reserve == 15 and limit.per_window == 135
    assert limit.wait(clock.sleep) == 0 and clock.slept == []


def test_pauses_until_the_window_resets_when_only_the_headroom_is_left() -> None:
    clock = FakeClock()
    limit = RateLimit(clock=clock)
    limit.observe(headers(left=15, reset_ms=12_000))
    clock.now += 2.0  # time passes between the answer and the next request
    assert limit.wait(clock.sleep) == pytest.approx(10.0 + MARGIN)
    assert limit.paused == pytest.approx(10.0 + MARGIN)
    assert limit.wait(clock.sleep) == 0  # the new window's state comes with the next answer


def test_a_small_quota_keeps_one_request_for_other_apps() -> None:
    clock = FakeClock()
    limit = RateLimit(clock=clock)
    limit.observe(headers(left=2, reset_ms=500, quota=5, window_ms=1000))
    assert limit.reserve == 1 and limit.wait(clock.sleep) == 0
    limit.observe(headers(left=1, reset_ms=400, quota=5, window_ms=1000))
    assert limit.wait(clock.sleep) == pytest.approx(0.4 + MARGIN)


def test_headers_are_case_insensitive_and_may_be_missing_or_partial() -> None:
    import requests

    clock = FakeClock()
    limit = RateLimit(clock=clock)
    limit.observe(requests.structures.CaseInsensitiveDict({"x-rate-limit-requests-left": "0"}))
    # spent, reset unknown, window unknown: wait a second rather than guess nothing
    assert limit.wait(clock.sleep) == pytest.approx(1.0 + MARGIN)
    limit.observe({})
    assert limit.wait(clock.sleep) == 0
    assert Reading.of({"X-Rate-Limit-Requests-Left": "many"}).left is None


def test_seconds_for_a_number_of_requests() -> None:
    limit = RateLimit()
    assert limit.seconds_for(1000) is None  # quota unknown before the first answer
    limit.observe(headers(left=149, reset_ms=29_990))
    assert limit.seconds_for(135) == 0  # fits in the first window
    assert limit.seconds_for(2700) == 19 * 30.0  # 20 windows of 135


def test_headroom_must_be_a_fraction() -> None:
    with pytest.raises(ValueError):
        RateLimit(headroom=1.0)
