"""Outcome classes (DESIGN.md table) and the backoff policy."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import requests
import tenacity

from connector.config import Secret, SonarIDSettings
from connector.delivery import classify_response
from connector.outcomes import (
    Outcome,
    backoff,
    classify_exception,
    classify_status,
    parse_retry_after,
    retry_after,
    retrying,
)
from connector.destinations.sonarid import SonarID

SONARID = SonarID(SonarIDSettings(api_key=Secret("sk_test_unit")))


@pytest.mark.parametrize(("status", "outcome"), [
    (200, Outcome.DELIVERED), (201, Outcome.DELIVERED), (204, Outcome.DELIVERED),
    (400, Outcome.PERMANENT), (404, Outcome.PERMANENT), (409, Outcome.PERMANENT), (422, Outcome.PERMANENT),
    (413, Outcome.PERMANENT),
    (401, Outcome.AUTH), (403, Outcome.AUTH),
    (408, Outcome.TRANSIENT), (425, Outcome.TRANSIENT), (429, Outcome.TRANSIENT),
    (500, Outcome.TRANSIENT), (502, Outcome.TRANSIENT), (503, Outcome.TRANSIENT), (504, Outcome.TRANSIENT),
])
def test_status_classes(status: int, outcome: Outcome) -> None:
    assert classify_status(status) is outcome


def test_a_2xx_keeps_the_destination_reference() -> None:
    response = httpx.Response(200, json={"success": True, "customerId": "c-1", "orderId": "o-1",
                                         "enrichmentStatus": "queued"})
    result = classify_response(response, SONARID)
    assert (result.outcome, result.reference) == (Outcome.DELIVERED, "o-1")


def test_a_400_keeps_the_vendor_message() -> None:
    response = httpx.Response(400, json={"error": "Bad Request", "message": "Missing required fields: email"})
    result = classify_response(response, SONARID)
    assert result.outcome is Outcome.PERMANENT
    assert result.message == "Bad Request: Missing required fields: email"


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("7") == 7
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert parse_retry_after("999999") == 3600  # capped
    assert parse_retry_after("soon") is None
    response = httpx.Response(429, headers={"Retry-After": "3"}, json={"error": "Too Many Requests"})
    assert classify_response(response, SONARID).retry_after == 3


@pytest.mark.parametrize(("exc", "outcome"), [
    (httpx.ConnectError("refused"), Outcome.TRANSIENT),
    (httpx.ConnectTimeout("slow connect"), Outcome.TRANSIENT),
    (httpx.PoolTimeout("pool"), Outcome.TRANSIENT),
    (httpx.ReadTimeout("slow answer"), Outcome.AMBIGUOUS),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."), Outcome.AMBIGUOUS),
    (httpx.WriteError("broken pipe"), Outcome.AMBIGUOUS),
])
def test_network_errors(exc: Exception, outcome: Outcome) -> None:
    assert classify_exception(exc) is outcome


def test_backoff_is_full_jitter_within_the_exponential_envelope() -> None:
    for attempt in range(1, 12):
        ceiling = min(3600.0, 30.0 * 2 ** (attempt - 1))
        delays = [backoff(attempt, 30.0, 3600.0) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.5  # jittered across the range, not a constant
        assert min(delays) < ceiling * 0.5


@pytest.mark.parametrize(("exc", "outcome"), [
    (requests.ConnectionError("refused"), Outcome.TRANSIENT),
    (requests.ConnectTimeout("slow connect"), Outcome.TRANSIENT),
    (requests.ReadTimeout("slow answer"), Outcome.AMBIGUOUS),
    (requests.exceptions.ChunkedEncodingError("cut short"), Outcome.AMBIGUOUS),
])
def test_the_sources_client_errors_share_the_classes(exc: Exception, outcome: Outcome) -> None:
    assert classify_exception(exc) is outcome


def test_a_certificate_that_does_not_verify_is_configuration_in_both_clients() -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    for client_error in (httpx.ConnectError("handshake"), requests.exceptions.SSLError("handshake")):
        client_error.__cause__ = cause
        assert classify_exception(client_error) is Outcome.CONFIG
    assert classify_exception(httpx.ConnectError("no certificate involved")) is Outcome.TRANSIENT


def test_an_exception_that_is_not_http_is_raised_again() -> None:
    with pytest.raises(KeyError):
        classify_exception(KeyError("a bug, not an answer"))


def test_a_429_waits_for_the_quota_window_other_answers_for_retry_after() -> None:
    quota = {"X-Rate-Limit-Time-Reset-Ms": "4500", "X-Rate-Limit-Requests-Left": "0", "Retry-After": "60"}
    assert retry_after(429, quota) == 4.5
    assert retry_after(503, quota) == 60  # a 5xx from a store with quota headers: its Retry-After, not the window
    assert retry_after(429, {"X-Retry-After": "9"}) == 9
    assert retry_after(429, {"Retry-After": "2"}) == 2
    assert retry_after(429, {}) is None
    assert retry_after(500, {"X-Retry-After": "9"}) is None


@dataclass
class Answer:
    retry_after: float | None


def test_retrying_returns_the_last_answer_when_out_of_tries_and_honours_what_it_asked() -> None:
    answers = [Answer(0.2), Answer(None), Answer(None)]
    tries: list[Answer] = []

    def ask() -> Answer:
        tries.append(answers[len(tries)])
        return tries[-1]

    policy = retrying(lambda state: True, attempts=3, base=0.001, cap=0.002)
    assert policy(ask) is answers[2]
    assert len(tries) == 3
    assert 0.2 <= policy.statistics["idle_for"] < 0.2 + 2 * 0.002 + 1e-9  # the asked 0.2 s plus jitter under the cap


def test_retrying_raises_the_last_exception_when_out_of_tries() -> None:
    calls: list[int] = []

    def fail() -> None:
        calls.append(1)
        raise TimeoutError(f"try {len(calls)}")

    policy = retrying(tenacity.retry_if_exception_type(TimeoutError), attempts=4, base=0.001, cap=0.001)
    with pytest.raises(TimeoutError, match="try 4"):
        policy(fail)
    assert len(calls) == 4


def test_backoff_never_overflows_on_a_long_failing_row() -> None:
    assert 0 <= backoff(10_000, 30.0, 3600.0) <= 3600.0
