"""`connector run` tells systemd about a backlog: the STATUS= line names it and its age while it lasts."""

from __future__ import annotations

import re

from connector.sandbox import sample_woocommerce_orders
from tests.service.test_run import Notifications, Service, notifications, service, stop, wait_for  # noqa: F401


def test_status_line_shows_the_backlog_and_its_age_during_an_outage(service: Service, notifications: Notifications) -> None:
    for order in sample_woocommerce_orders(8, seed=11):
        service.wc.add_order(order)
    service.sonarid.faults.add("status", times=100_000, status=503)  # sonarID is down for the whole run
    process = service.start(NOTIFY_SOCKET=notifications.address, CONNECTOR_RETRY_BASE="3600")
    pattern = re.compile(r"sonarid: (\d+) undelivered, oldest (\d+[dhms])( \d+[hms])?, failing since \d{4}-\d\d-\d\d \d\d:\d\dZ")

    def backlog_line() -> re.Match[str] | None:
        states = service.states()
        waiting = [s for s in states.values() if s == "retrying"]
        if not states or len(waiting) != len([s for s in states.values() if s != "skipped"]):
            return None
        return next((m for n in notifications.received() if "STATUS" in n
                     for m in [pattern.search(n["STATUS"])] if m and int(m.group(1)) == len(waiting)), None)

    try:
        match = wait_for(backlog_line, "a STATUS= line with the whole backlog")
    finally:
        code = stop(process)
    assert code == 0, service.log.read_text()[-3000:]
    assert int(match.group(1)) == len([r for r in service.deliveries() if r["state"] == "retrying"]) > 0
