"""A destination that is down for a while: retried until CONNECTOR_RETRY_FOR, never dead on a count.

Through the CLI against the sandbox; CONNECTOR_RETRY_BASE=0 (the fixture's) makes every failed
delivery due again at the next `poll`, so each poll is one pass.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from connector.delivery import QUICK_TRIES
from connector.sandbox import sample_woocommerce_orders
from connector.sandbox.demo import fresh_order
from tests.e2e.conftest import Connector
from tests.waiting import wait_for


def place(connector: Connector, count: int) -> list[str]:
    """Paid orders sonarID accepts (an e-mail and a name each)."""
    ids = []
    for i, order in enumerate(sample_woocommerce_orders(count, seed=41)):
        order["billing"] = {**order["billing"], "email": f"buyer{i}@example.com", "first_name": "Ann", "last_name": "Lee"}
        ids.append(str(connector.wc.add_order(fresh_order(order))["id"]))
    return ids


def test_an_outage_longer_than_max_attempts_kills_nothing_and_delivers_once(connector: Connector) -> None:
    ids = place(connector, 3)
    attempts_down = 6  # each order fails 6 passes (3 quick tries each); CONNECTOR_MAX_ATTEMPTS is 2
    connector.sonarid.faults.add("status", times=len(ids) * QUICK_TRIES * attempts_down, status=503)

    runs = []
    while len(runs) < 3 and set(connector.states().values()) != {"delivered"}:
        runs.append(connector("poll", CONNECTOR_MAX_ATTEMPTS="2"))  # RETRY_BASE=0: retried within the pass
        assert runs[-1].code == 0, runs[-1].err
        assert "dead" not in connector.states().values(), runs[-1].err
    assert len(connector.sonarid.faults) == 0  # the outage really lasted all those passes
    assert set(connector.states().values()) == {"delivered"}
    for order_id in ids:
        assert connector.sonarid.submissions_for(f"wc_{order_id}") == 1
    assert all(row.attempts > 2 for row in connector.ledger().deliveries())
    # CONNECTOR_MAX_ATTEMPTS now says when a still-failing delivery is logged as an error: once, at pass 2
    struggling = [line for run in runs for line in run.err.splitlines() if "(CONNECTOR_MAX_ATTEMPTS)" in line]
    assert sorted(line.split("order=")[1].split()[0] for line in struggling) == sorted(ids), struggling
    assert all("ERROR" in line and "still retrying" in line for line in struggling)


def test_status_shows_the_backlog_and_past_the_horizon_it_is_dead_saying_so(connector: Connector) -> None:
    [order_id] = place(connector, 1)
    connector.env.update(CONNECTOR_RETRY_BASE="3600", CONNECTOR_RETRY_FOR="1")
    connector.sonarid.faults.add("status", times=1000, status=503)
    assert connector("poll").code == 0
    assert connector.states() == {order_id: "retrying"}

    [sonarid] = [d for d in json.loads(connector("status", "--json").out)["destinations"] if d["destination"] == "sonarid"]
    backlog = sonarid["backlog"]
    assert backlog["count"] == 1 and backlog["oldest_since"] and backlog["age_seconds"] >= 0
    assert backlog["failing_since"] and backlog["dead_after"] > backlog["failing_since"]
    text = connector("status").out
    assert "  backlog 1: oldest woocommerce #" in text and "(retrying) waiting " in text
    assert f"failing since {backlog['failing_since']}, retried until {backlog['dead_after']}" in text

    horizon = datetime.fromisoformat(backlog["dead_after"])
    # past the horizon; the next try was scheduled for it, not an hour later
    wait_for(lambda: datetime.now(UTC) > horizon, f"the clock to pass the horizon {horizon}")
    assert connector("poll").code == 0
    [row] = connector.ledger().deliveries()
    assert row.state == "dead", row.reason
    assert "CONNECTOR_RETRY_FOR" in (row.reason or "") and "HTTP 503" in (row.reason or "")

    assert connector("retry", "--dead").code == 0
    assert connector("poll").code == 0  # still down, but `retry` started a fresh horizon
    assert connector.states() == {order_id: "retrying"}
    connector.sonarid.faults.clear()
    assert connector("retry").code == 0
    assert connector("poll").code == 0
    assert connector.states() == {order_id: "delivered"}
    assert connector.sonarid.submissions_for(f"wc_{order_id}") == 1
    assert json.loads(connector("status", "--json").out)["destinations"][0]["backlog"]["count"] == 0
