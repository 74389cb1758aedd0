"""Several instances on one ledger (SQLite and PostgreSQL): claims never overlap, one poller per store."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import text

from connector.ledger import Ledger, process_token
from tests.unit.test_ledger import T0, order

CLAIMER = """
import json, sys
from connector.ledger import Ledger, State
ledger = Ledger(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()  # all start claiming together
mine = []
while True:
    claims = ledger.claim("sonarid", 3, lease=600)
    if not claims:
        break
    for claim in claims:
        mine.append(claim.order.id)
        ledger.record(claim.delivery_id, State.DELIVERED)
print(json.dumps(mine))
ledger.close()
"""


def test_instances_claiming_at_once_never_take_the_same_delivery(database_url: str) -> None:
    ledger = Ledger(database_url)
    ledger.enqueue("woocommerce", "shop", [order(str(i)) for i in range(1, 121)], ["sonarid"])
    ledger.close()
    workers = [subprocess.Popen([sys.executable, "-c", CLAIMER, database_url], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    taken = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        taken.append(json.loads(out))
    every = [order_id for mine in taken for order_id in mine]
    assert sorted(every, key=int) == [str(i) for i in range(1, 121)]  # each once, none twice
    ledger = Ledger(database_url)
    assert {d.state for d in ledger.deliveries()} == {"delivered"} and all(d.attempts == 1 for d in ledger.deliveries())
    ledger.close()


def test_one_instance_polls_a_store_and_the_others_wait_until_it_stops_or_its_lease_runs_out(database_url: str) -> None:
    ledger = Ledger(database_url)
    try:
        held, lease = ledger.take_poll("woocommerce", "shop", ttl=600, now=T0)
        assert held and lease.holder == process_token() and lease.expires_at == T0 + timedelta(minutes=10)
        assert ledger.take_poll("woocommerce", "shop", ttl=600, now=T0 + timedelta(minutes=1))[0]  # renewed by its holder
        assert ledger.take_poll("woocommerce", "other", ttl=600, now=T0)[0]  # another store: its own lease

        def held_by(holder: str, minutes: int) -> None:
            with ledger.engine.begin() as db:
                db.execute(text("UPDATE poll_leases SET holder = :h, expires_at = :e WHERE store = 'shop'"),
                           {"h": holder, "e": (T0 + timedelta(minutes=minutes)).replace(tzinfo=None)})

        held_by("other-host:4242", 10)  # another live instance
        held, lease = ledger.take_poll("woocommerce", "shop", ttl=600, now=T0 + timedelta(minutes=2))
        assert not held and lease.holder == "other-host:4242"
        held, _ = ledger.take_poll("woocommerce", "shop", ttl=600, now=T0 + timedelta(minutes=11))  # it crashed
        assert held
        held_by(f"{socket.gethostname()}:999999999", 60)  # a gone process of this host: free at once
        assert ledger.take_poll("woocommerce", "shop", ttl=600, now=T0 + timedelta(minutes=12))[0]
        assert ledger.take_poll("woocommerce", "other", ttl=600, now=T0 + timedelta(minutes=12))[0]

        assert ledger.release_polls(now=T0 + timedelta(minutes=13)) == 2  # a clean stop frees both stores
        held_by("other-host:4242", 13)
        assert ledger.take_poll("woocommerce", "shop", ttl=600, now=T0 + timedelta(minutes=13))[0]
        leases = {lease.store: lease for lease in ledger.poll_leases()}
        assert leases["shop"].holder == process_token() and leases["shop"].taken_at == T0 + timedelta(minutes=13)
        assert leases["other"].expires_at == T0 + timedelta(minutes=13)  # released, its last holder kept
    finally:
        ledger.close()
