"""CONNECTOR_LOG_FORMAT=json: one JSON object per poll and per delivery outcome, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector import logs
from connector.delivery import Deliverer
from connector.destinations.base import Destination
from connector.ledger import Ledger
from connector.orders import Order
from connector.polling import poll
from connector.redaction import register_secret
from tests.service.test_shutdown_poll import TwoPages

SECRET = "sk_live_json_canary_123"


class Refusing(Destination):
    """Answers 201 for order 1 and a 422 that quotes our key for the others."""

    name = "sonarid"
    credential_variable = "SONARID_API_KEY"

    def build(self, order: Order) -> dict[str, Any]:
        return {"id": order.id}

    def endpoint(self) -> str:
        return "http://sonarid.test/api/v1/orders"

    def client(self, timeout: float) -> httpx.Client:
        def answer(request: httpx.Request) -> httpx.Response:
            if json.loads(request.content)["id"] == "1":
                return httpx.Response(201, json={"id": "son_1"})
            return httpx.Response(422, json={"error": f"bad key {SECRET}"})

        return httpx.Client(transport=httpx.MockTransport(answer))


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    logs.setup("INFO", "json", stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_poll_and_delivery_lines_are_json_with_their_fields(json_log: io.StringIO, tmp_path: Path) -> None:
    register_secret(SECRET)
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    try:
        poll(ledger, TwoPages(), ["sonarid"], lookback=600, now=datetime(2026, 11, 24, tzinfo=UTC))
        deliverer = Deliverer(ledger, {"sonarid": Refusing(None)}, retry_base=1)
        deliverer.run_due()
        deliverer.close()
    finally:
        ledger.close()

    entries = lines(json_log)
    polls = [e for e in entries if e.get("event") == "poll"]
    assert len(polls) == 1
    assert {k: polls[0][k] for k in ("source", "seen", "enqueued", "cursor")} == {
        "source": "woocommerce", "seen": 3, "enqueued": 3, "cursor": "2026-11-24T00:00:00+00:00"}

    deliveries = {e["order_id"]: e for e in entries if e.get("event") == "delivery"}
    assert set(deliveries) == {"1", "2", "3"}
    for entry in deliveries.values():
        assert {"source", "order_id", "destination", "state", "attempt", "duration", "reason", "time", "level"} <= set(entry)
    assert deliveries["1"]["state"] == "delivered" and deliveries["1"]["reason"] is None
    assert deliveries["2"]["state"] == "dead" and "422" in deliveries["2"]["reason"]
    assert SECRET not in json_log.getvalue()
    assert "***" in deliveries["2"]["reason"]


def test_extra_fields_are_redacted_too(json_log: io.StringIO) -> None:
    register_secret(SECRET)
    logging.getLogger("connector.test").info("nothing secret here", extra={"detail": f"token {SECRET}"})
    (entry,) = lines(json_log)
    assert entry["detail"] == "token ***"
