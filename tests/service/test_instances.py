"""Two `connector run` on one ledger (SQLite file or PostgreSQL): each order is sent once, one instance
polls the store and says so, the other delivers; when the poller stops, the other takes the poll over."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from connector.ledger import Ledger
from connector.sandbox import sample_woocommerce_orders
from tests.service.test_run import FINAL_STATES, PAID, Service, fresh, service, stop, wait_for  # noqa: F401

HOLDS = "holds the poll of woocommerce"


def states(url: str) -> dict[str, str]:
    ledger = Ledger(url)
    try:
        return {d.order_id: d.state for d in ledger.deliveries(destination="sonarid")}
    finally:
        ledger.close()


def settled(service: Service, url: str) -> bool:
    found = states(url)
    return set(found) == service.paid_ids() and all(state in FINAL_STATES for state in found.values())


def test_two_instances_on_one_ledger_send_each_order_once(service: Service, database_url: str, tmp_path: Path) -> None:
    for order in fresh(sample_woocommerce_orders(12, seed=21)):
        service.wc.add_order(order)
    env = {"CONNECTOR_DATABASE_URL": database_url, "CONNECTOR_CONCURRENCY": "2"}
    Ledger(database_url).close()  # the schema first, so that both start polling at once
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    instances: list[subprocess.Popen[bytes]] = []
    try:
        for log in logs:
            service.log = log
            instances.append(service.start(**env))
        wait_for(lambda: any(HOLDS in log.read_text() for log in logs if log.exists()), "the second instance's warning")
        wait_for(lambda: settled(service, database_url), "every paid order delivered")
        added = [service.wc.add_order(o) for o in fresh(sample_woocommerce_orders(4, seed=22))]
        wait_for(lambda: settled(service, database_url), "the new orders delivered")

        status = json.loads(service.command("status", "--json", **env).stdout)
        [lease] = status["polls"]
        pids = {str(p.pid) for p in instances}
        assert lease["held"] and lease["holder"].rpartition(":")[2] in pids
        assert f"polled by {lease['holder']}" in service.command("status", **env).stdout

        warned = [i for i, log in enumerate(logs) if HOLDS in log.read_text()]
        assert len(warned) == 1  # the one that does not poll says so, once
        poller = instances[1 - warned[0]]
        assert lease["holder"].endswith(f":{poller.pid}")
        assert stop(poller) == 0  # a clean stop releases the poll: the other takes it over at its next poll
        more = [service.wc.add_order(o) for o in fresh(sample_woocommerce_orders(3, seed=23))]
        wait_for(lambda: settled(service, database_url), "orders placed after the poller stopped")
        assert "took over the poll of woocommerce" in logs[warned[0]].read_text()
    finally:
        codes = [stop(p) if p.poll() is None else p.returncode for p in instances]
    assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]
    found = states(database_url)
    delivered = {order_id for order_id, state in found.items() if state == "delivered"}
    assert delivered & {str(o["id"]) for o in added + more if o["status"] in PAID}
    for order_id in found:  # each exactly once, whichever instance sent it
        assert service.sonarid.submissions_for(f"wc_{order_id}") == (1 if order_id in delivered else 0), order_id
