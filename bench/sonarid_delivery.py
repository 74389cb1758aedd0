"""Delivery throughput: N queued orders to the sonarID sandbox, each answer delayed like a real API.

    .venv/bin/python bench/sonarid_delivery.py --orders 1000 --latency 0.05 --concurrency 1 4 8

Prints orders per second per concurrency setting and checks every order arrived exactly once.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from connector.config import Secret, SonarIDSettings
from connector.delivery import Deliverer
from connector.destinations.sonarid import SonarID
from connector.ledger import Ledger
from connector.orders import Address, Order
from connector.sandbox import SonarIDSandbox


def orders(count: int) -> list[Order]:
    now = datetime.now(UTC)
    return [Order(source="woocommerce", store="bench", id=str(i), number=str(i), status="processing",
                  created_at=now, modified_at=now, currency="USD", total=Decimal("19.99"), subtotal=Decimal("19.99"),
                  billing=Address(first_name="Bench", last_name=f"Customer{i}", email=f"c{i}@example.com",
                                  city="Austin", state="TX", postcode="78701", country="US"))
            for i in range(1, count + 1)]


def run(count: int, latency: float, concurrency: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, SonarIDSandbox("sk_test_bench") as sonarid:
        sonarid.faults.add("slow", delay=latency, times=count * 2)
        ledger = Ledger(f"sqlite:///{Path(tmp) / 'bench.db'}")
        ledger.enqueue("woocommerce", "bench", orders(count), ["sonarid"])
        deliverer = Deliverer(ledger, {"sonarid": SonarID(SonarIDSettings(api_key=Secret("sk_test_bench"),
                                                                         url=sonarid.url))},
                              concurrency=concurrency, timeout=30)
        started = time.perf_counter()
        report = deliverer.run_due()
        elapsed = time.perf_counter() - started
        deliverer.close()
        ledger.close()
        assert report.count("delivered") == count, report.states
        assert len(sonarid.orders) == count and len(sonarid.submissions) == count
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the sandbox waits before answering")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()
    print(f"{args.orders} orders, {args.latency * 1000:.0f} ms per answer")
    for concurrency in args.concurrency:
        elapsed = run(args.orders, args.latency, concurrency)
        print(f"concurrency {concurrency}: {elapsed:.1f} s, {args.orders / elapsed:.0f} orders/s, "
              f"all {args.orders} delivered exactly once")


if __name__ == "__main__":
    main()
