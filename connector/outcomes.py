"""One outcome policy for every HTTP exchange, both directions: what an answer or a failure means,
how long it asks us to wait, and how tries are spaced. Sources (requests, through the official
`woocommerce` and `bigcommerce` packages) and destinations (httpx) are classified here alike.

| answer                                   | class         | a read (source)            | a delivery                 |
|------------------------------------------|---------------|----------------------------|----------------------------|
| 2xx                                      | delivered     | the body is used           | done, reference kept       |
| 400, 404, 409, 422 and other 4xx         | permanent     | an error for that request  | `dead` with the message    |
| 401, 403                                 | auth          | the poll stops, loudly     | destination paused         |
| a TLS certificate that does not verify   | configuration | the poll stops, not retried| destination paused         |
| 408, 425, 429, 5xx, not sent             | transient     | retried                    | retried                    |
| timeout/disconnect after sending         | ambiguous     | retried (a GET is safe)    | retried, counted apart     |

Waits: full jitter (`backoff`), plus what the answer asks for (`retry_after`: `Retry-After`, and on a
429 the platform's rate-limit window reset). `retrying` is the one tenacity policy for quick tries.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx
import requests
import tenacity

from connector import tls

RETRY_AFTER_CAP = 3600.0

#: BigCommerce's rate-limit headers (names case-insensitive), on every answer
QUOTA = "X-Rate-Limit-Requests-Quota"
WINDOW = "X-Rate-Limit-Time-Window-Ms"
LEFT = "X-Rate-Limit-Requests-Left"
RESET = "X-Rate-Limit-Time-Reset-Ms"


class Outcome(StrEnum):
    DELIVERED = "delivered"
    PERMANENT = "permanent"
    AUTH = "auth"
    CONFIG = "configuration"
    TRANSIENT = "transient"
    AMBIGUOUS = "ambiguous"

    @property
    def retryable(self) -> bool:
        return self in (Outcome.TRANSIENT, Outcome.AMBIGUOUS)


TRANSIENT_STATUSES = frozenset({408, 425, 429})
AUTH_STATUSES = frozenset({401, 403})
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.ProxyError,
            requests.ConnectTimeout)
MAYBE_SENT = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError,
              requests.ReadTimeout, requests.exceptions.ChunkedEncodingError)


def classify_status(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in AUTH_STATUSES:
        return Outcome.AUTH
    if status in TRANSIENT_STATUSES or status >= 500:
        return Outcome.TRANSIENT
    return Outcome.PERMANENT


def classify_exception(exc: BaseException) -> Outcome:
    """A client's failure (httpx or requests): a certificate that does not verify is configuration;
    otherwise transient when the request cannot have been received, ambiguous when it may have been.
    Any other exception is not an HTTP outcome and is raised again."""
    if isinstance(exc, httpx.TransportError | requests.RequestException) and tls.verification_error(exc) is not None:
        return Outcome.CONFIG
    if isinstance(exc, NOT_SENT):
        return Outcome.TRANSIENT
    if isinstance(exc, MAYBE_SENT):
        return Outcome.AMBIGUOUS
    if isinstance(exc, httpx.TransportError | requests.RequestException):
        return Outcome.TRANSIENT
    raise exc


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """RFC 9110 Retry-After: delta-seconds or an HTTP-date; capped; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


@dataclass(frozen=True)
class Reading:
    """What one answer's rate-limit headers said (None where a header was absent or unreadable)."""

    quota: int | None
    window: float | None  # seconds
    left: int | None
    reset: float | None  # seconds until the window resets

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> Reading:
        quota, window, left, reset = (_number(headers, n) for n in (QUOTA, WINDOW, LEFT, RESET))
        return cls(None if quota is None else int(quota), None if window is None else window / 1000,
                   None if left is None else int(left), None if reset is None else reset / 1000)


def retry_after(status: int, headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The wait an answer asks for: on a 429 the quota window's reset (BigCommerce), else `X-Retry-After`
    or `Retry-After`; on any other answer `Retry-After`. None: nothing said, back off instead."""
    if status == 429:
        reset = Reading.of(headers).reset
        if reset is not None:
            return reset
        return parse_retry_after(headers.get("X-Retry-After") or headers.get("Retry-After"), now)
    return parse_retry_after(headers.get("Retry-After"), now)


def backoff(attempt: int, base: float, cap: float) -> float:
    """Full jitter: a delay in [0, min(cap, base * 2**(attempt-1))] before the next try after `attempt` failed ones."""
    return random.uniform(0.0, min(cap, base * 2.0 ** min(max(1, attempt) - 1, 64)))


def _asked(state: tenacity.RetryCallState) -> float:
    """What the last try's answer asked to wait: `retry_after` of its exception or of its result."""
    if state.outcome is None:
        return 0.0
    failed = state.outcome.exception()
    return float(getattr(failed if failed is not None else state.outcome.result(), "retry_after", None) or 0.0)


def _last(state: tenacity.RetryCallState) -> Any:
    """Out of tries: the last result, or the last exception raised again."""
    return state.outcome.result()  # type: ignore[union-attr]


def retrying(retry: Callable[[tenacity.RetryCallState], bool] | tenacity.retry_base, *, attempts: int, base: float,
             cap: float, log: logging.Logger | None = None) -> tenacity.Retrying:
    """The quick tries of one request: up to `attempts`, full jitter (`base`, `cap`) plus what the answer
    asked (`retry_after` on the exception or the result); out of tries, the last result or exception."""
    return tenacity.Retrying(
        retry=retry,
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_combine(tenacity.wait_random_exponential(multiplier=base, max=cap), _asked),
        before_sleep=None if log is None else (
            lambda state: log.warning("retrying the platform after: %s",
                                      state.outcome.exception() if state.outcome else "?")),
        retry_error_callback=_last,
    )
