"""What a claim costs with 100 rows queued and with 100,000: the same (an index walk, no sort, no join before the
limit). CPU per claim of one row (its transaction included), on SQLite.

    .venv/bin/python bench/claim_cost.py --pending 100 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from connector.ledger import Ledger
from connector.orders import Address, Order

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def orders(start: int, count: int) -> list[Order]:
    return [Order(source="woocommerce", store="bench", id=str(i), number=str(i), status="processing", created_at=T0,
                  modified_at=T0, currency="USD", total=Decimal("1.00"), subtotal=Decimal("1.00"),
                  billing=Address(first_name="A", last_name="B", email=f"c{i}@example.com", country="US"))
            for i in range(start, start + count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pending", type=int, nargs="+", default=[100, 100_000])
    parser.add_argument("--claims", type=int, default=500)
    args = parser.parse_args()
    print("| rows pending | CPU per claim of one row |")
    print("|---|---|")
    for pending in args.pending:
        with tempfile.TemporaryDirectory() as tmp:
            ledger = Ledger(f"sqlite:///{Path(tmp) / 'bench.db'}")
            for start in range(1, pending + args.claims + 1, 5000):
                ledger.enqueue("woocommerce", "bench", orders(start, min(5000, pending + args.claims + 1 - start)),
                               ["sonarid"])
            started = time.process_time()
            for _ in range(args.claims):
                assert len(ledger.claim("sonarid", 1, lease=60)) == 1
            per_claim = (time.process_time() - started) / args.claims
            ledger.close()
        print(f"| {pending:,} | {per_claim * 1000:.2f} ms |", flush=True)


if __name__ == "__main__":
    main()
