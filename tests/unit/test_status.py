"""`status` (connector/status.py): `collect` from a real ledger, `render` as the plain lines a person reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from connector import config
from connector.ledger import Ledger, State
from connector.orders import Address, Order, Rejected
from connector import migrations
from connector.status import collect, render

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
STORE = "shop.example"


def order(order_id: str) -> Order:
    return Order(source="woocommerce", store=STORE, id=order_id, number=order_id, status="processing",
                 created_at=T0, modified_at=T0, currency="USD", total=Decimal("10.00"), subtotal=Decimal("10.00"),
                 billing=Address(first_name="A", last_name="B", email="a@example.com"))


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def settings(database: str) -> config.Settings:
    return config.load({"CONNECTOR_DATABASE_URL": database, "CONNECTOR_RETRY_FOR": "3600",
                        "SONARID_URL": "http://127.0.0.1:9", "SONARID_API_KEY": "sk_status_unit_key"})


def text(report: dict[str, Any]) -> list[str]:
    out = StringIO()
    render(report, Console(file=out, width=1000, color_system=None))
    return out.getvalue().splitlines()


def test_an_empty_ledger(database: str) -> None:
    report = collect(settings(database))
    [sonarid] = report["destinations"]
    assert sonarid["enabled"] is True and sonarid["counts"] == dict.fromkeys(
        ["pending", "sending", "delivered", "retrying", "dead", "skipped"], 0)
    assert sonarid["backlog"] == {"count": 0, "oldest_since": None, "age_seconds": 0, "failing_since": None,
                                  "dead_after": None}
    assert report["cursors"] == [] and report["sources_enabled"] == []
    assert text(report) == [f"Ledger {database}: schema revision {migrations.head()}", "Deliveries by destination",
                            "sonarid: 0 pending, 0 sending, 0 delivered, 0 retrying, 0 dead, 0 skipped",
                            "Sources", "  not polled yet"]


def test_counts_backlog_failures_orders_not_read_and_cursors(database: str) -> None:
    ledger = Ledger(database)
    try:
        ledger.enqueue("woocommerce", STORE, [order("1"), order("2"), order("3"),
                                              Rejected(order_id="4", number="4", reason="total is not a number", raw="{}")],
                       ["sonarid"], cursor="live", position=T0)
        first, second = ledger.claim("sonarid", 2, lease=60)
        failed_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        ledger.record(first.delivery_id, State.DELIVERED, status_code=200)
        ledger.record(second.delivery_id, State.RETRYING, reason="HTTP 503", status_code=503, failing=True,
                      next_attempt_at=failed_at + timedelta(minutes=10), now=failed_at)
        ledger.record_poll("woocommerce", STORE, seen=4, enqueued=4,
                           error="GET https://shop.example/wp-json/wc/v3/orders?consumer_secret=cs_leaky_secret failed")
    finally:
        ledger.close()

    report = collect(settings(database))
    [sonarid] = report["destinations"]
    assert sonarid["counts"] == {"pending": 1, "sending": 0, "delivered": 1, "retrying": 1, "dead": 1, "skipped": 0}
    backlog = sonarid["backlog"]
    assert backlog["count"] == 2
    assert backlog["failing_since"] == failed_at.isoformat()
    assert backlog["dead_after"] == (failed_at + timedelta(seconds=3600)).isoformat()  # CONNECTOR_RETRY_FOR
    assert sonarid["next_attempt_at"] == (failed_at + timedelta(minutes=10)).isoformat()
    # the latest failure: the malformed order's dead row (now), not the retry recorded five minutes ago
    assert (sonarid["last_error"]["order_id"], sonarid["last_error"]["state"]) == ("4", "dead")
    problems = report["orders_not_read"]
    assert (problems["malformed"], problems["read_again"]) == (1, 0)
    assert problems["latest"][0]["order_id"] == "4" and problems["latest"][0]["reason"] == "total is not a number"
    [cursor] = report["cursors"]
    assert (cursor["position"], cursor["last_poll_seen"], cursor["last_poll_enqueued"]) == (T0.isoformat(), 4, 4)

    lines = text(report)
    assert "sonarid: 1 pending, 0 sending, 1 delivered, 1 retrying, 1 dead, 0 skipped" in lines
    [backlog_line] = [line for line in lines if line.startswith("  backlog 2: oldest woocommerce #")]
    assert (f"failing since {failed_at.isoformat()}, retried until "
            f"{(failed_at + timedelta(hours=1)).isoformat()}, then dead (CONNECTOR_RETRY_FOR)") in backlog_line
    assert f"  next attempt {(failed_at + timedelta(minutes=10)).isoformat()}" in lines
    assert "  woocommerce #4 malformed since " in "\n".join(lines)
    assert f"woocommerce {STORE} live: position {T0.isoformat()}, last poll " in "\n".join(lines)
    shown = "\n".join(lines) + str(report)
    assert "cs_leaky_secret" not in shown and "consumer_secret=***" in shown
    assert "sk_status_unit_key" not in shown
