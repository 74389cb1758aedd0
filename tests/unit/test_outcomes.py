"""Outcome classes (DESIGN.md table) and the backoff policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from connector.config import Secret, SonarIDSettings
from connector.delivery import Outcome, backoff, classify_exception, classify_response, classify_status, parse_retry_after
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
    assert classify_exception(exc).outcome is outcome


def test_backoff_is_full_jitter_within_the_exponential_envelope() -> None:
    for attempt in range(1, 12):
        ceiling = min(3600.0, 30.0 * 2 ** (attempt - 1))
        delays = [backoff(attempt, 30.0, 3600.0) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.5  # jittered across the range, not a constant
        assert min(delays) < ceiling * 0.5
