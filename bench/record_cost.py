"""What one delivery costs this process at the least, part by part, on SQLite (issue 13, round two):
enqueueing it (a page of orders), claiming it (claims of 4, the default concurrency), recording its outcome
(per job in its own savepoint of one writer transaction, as `ledger_writer` does; or as one executemany per
batch of the same two Core statements), and a bare httpx POST to a sandbox destination on 127.0.0.1 (the
calling thread's CPU only: the server runs in another thread).

    .venv/bin/python bench/record_cost.py --deliveries 2000
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import insert

from connector.ledger import _ATTEMPTS, _RECORD, Ledger, State, utcnow
from connector.sandbox import SonarIDSandbox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from claim_cost import orders  # the same orders as the claim benchmark

BATCH = 256  # ledger_writer.MAX_BATCH


def ledger_with(tmp: str, name: str, count: int) -> tuple[Ledger, float, float, list[int]]:
    ledger = Ledger(f"sqlite:///{Path(tmp) / name}")
    started = time.process_time()
    for start in range(1, count + 1, 100):  # pages of 100, as WooCommerce lists them
        ledger.enqueue("woocommerce", "bench", orders(start, min(100, count + 1 - start)), ["sonarid"])
    enqueue = (time.process_time() - started) / count
    started = time.process_time()
    ids: list[int] = []
    while len(ids) < count:
        ids += [c.delivery_id for c in ledger.claim("sonarid", 4, lease=60)]
    claim = (time.process_time() - started) / count
    return ledger, enqueue, claim, ids


def params(delivery_id: int, now: object) -> dict[str, object]:
    return {"b_id": delivery_id, "b_state": str(State.DELIVERED), "b_reason": None, "b_status": 200,
            "b_reference": f"ref-{delivery_id}", "b_message": None, "b_response": '{"ok": true}', "b_next": None,
            "b_now": now, "b_ambiguous": 0, "b_uncount": 0, "b_failing": 0, "b_delivered": 1}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--group", type=int, default=BATCH, help="outcomes per transaction (and per executemany)")
    args = parser.parse_args()
    n, group = args.deliveries, args.group
    with tempfile.TemporaryDirectory() as tmp:
        ledger, enqueue, claim, ids = ledger_with(tmp, "a.db", n)
        started = time.process_time()
        for first in range(0, n, group):
            with ledger.batch():
                for delivery_id in ids[first:first + group]:
                    ledger.record(delivery_id, State.DELIVERED, status_code=200, reference=f"ref-{delivery_id}",
                                  response='{"ok": true}')
        savepoints = (time.process_time() - started) / n
        ledger.close()

        ledger, _, _, ids = ledger_with(tmp, "b.db", n)
        started = time.process_time()
        attempts = insert(_ATTEMPTS)
        for first in range(0, n, group):
            now = utcnow()
            chunk = ids[first:first + group]
            with ledger.write() as s:
                connection = s.connection()
                connection.execute(_RECORD, [params(i, now) for i in chunk])
                connection.execute(attempts, [{"delivery_id": i, "at": now, "state": str(State.DELIVERED),
                                               "status_code": 200, "message": None} for i in chunk])
        many = (time.process_time() - started) / n
        ledger.close()

    with SonarIDSandbox() as server, httpx.Client() as client:
        url = f"{server.url}/v1/orders"
        for _ in range(50):  # connection and first-call costs out of the way
            client.post(url, json={"id": "warm"})
        started = time.thread_time()
        for i in range(n):
            client.post(url, json={"id": str(i), "total": "1.00"})
        request = (time.thread_time() - started) / n
        connection = http.client.HTTPConnection("127.0.0.1", server.port)
        started = time.thread_time()
        for i in range(n):
            connection.request("POST", "/v1/orders", body=json.dumps({"id": str(i), "total": "1.00"}),
                               headers={"Content-Type": "application/json"})
            connection.getresponse().read()
        plain = (time.thread_time() - started) / n
        connection.close()

    print("| part of one delivery | CPU |")
    print("|---|---|")
    print(f"| enqueue (pages of 100 orders, one destination) | {enqueue * 1000:.3f} ms |")
    print(f"| claim (claims of 4) | {claim * 1000:.3f} ms |")
    print(f"| record, a savepoint per job, {group} jobs per transaction (before round two) | {savepoints * 1000:.3f} ms |")
    print(f"| record, one executemany per {group} outcomes | {many * 1000:.3f} ms |")
    print(f"| bare httpx POST on 127.0.0.1 (client thread) | {request * 1000:.3f} ms |")
    print(f"| the same POST with the standard library's http.client (client thread) | {plain * 1000:.3f} ms |")
    print(f"| sum with the executemany record | {(enqueue + claim + many + request) * 1000:.3f} ms |")
    print(f"| sum with the savepoint record | {(enqueue + claim + savepoints + request) * 1000:.3f} ms |")


if __name__ == "__main__":
    main()
