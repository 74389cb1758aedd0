"""The Voyado look-ups of a backfill: N orders of C distinct customers against a sandbox that enforces the bucket.

    .venv/bin/python bench/voyado_backfill.py [--orders 5000] [--customers 3000] [--rate 0.8] [--scale 1]

The orders go into a fresh SQLite ledger as `backfill` puts them there (`Ledger.enqueue` in pages of 100,
each order linked to its customer's look-up in the same transaction), then the look-ups run as `backfill`
runs them (`App.deliver_with_lookups`: 4 threads, one shared limiter, pyrate-limiter's GCRA). The sandbox's
leaky bucket (60) is enforced exactly; a request that finds it full is answered 429 and counted.

Time is scaled with `--scale S`: the sandbox's bucket refills `S` per second instead of 1, and VOYADO_RATE is
`rate × S`; the bucket size (60) and our burst (48) are not scaled. Every duration is reported multiplied back
by `S`, i.e. at the real refill of 1 per second. `--scale 1` is the real thing (about an hour for 3,000).

Theoretical minimum: the bucket alone lets C look-ups through in (C − 60) / 1 s (a full bucket, then its refill);
ours, at VOYADO_RATE with a burst of 48, in (C − 48) / rate s: that is what we aim for (a fifth of the bucket
and of its refill left to the store's own use of the key).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector import config
from connector.app import App
from connector.formats import duration
from connector.lookups import store
from connector.lookups.voyado import BUCKET_REFILL, BUCKET_SIZE
from connector.orders import Order
from connector.sandbox import VoyadoSandbox

KEY = "voyado_bench_key"


def orders(count: int, customers: int) -> list[Order]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [Order.model_validate({
        "source": "woocommerce", "store": "bench", "id": str(1000 + i), "number": str(1000 + i), "status": "processing",
        "created_at": start + timedelta(minutes=i), "modified_at": start + timedelta(minutes=i), "currency": "GBP",
        "total": "10.00", "subtotal": "10.00", "customer": {"email": f"Customer{i % customers}@Example.com"},
    }) for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=0.8, help="VOYADO_RATE at the real refill (look-ups per second)")
    parser.add_argument("--scale", type=float, default=1.0, help="speed-up of the bucket's refill and of VOYADO_RATE")
    parser.add_argument("--members", type=int, default=5, help="one customer in this many is a member")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, VoyadoSandbox(KEY, refill=BUCKET_REFILL * args.scale) as voyado:
        for n in range(0, args.customers, args.members):
            voyado.add_member(f"customer{n}@example.com", level="gold")
        env = {"CONNECTOR_DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}", "CONNECTOR_LOG_LEVEL": "WARNING",
               "VOYADO_API_URL": voyado.url, "VOYADO_API_KEY": KEY, "VOYADO_RATE": str(args.rate * args.scale)}
        settings = config.load(env)
        app = App(settings)
        try:
            batch = orders(args.orders, args.customers)
            for page in range(0, len(batch), 100):
                app.ledger.enqueue("woocommerce", "bench", batch[page:page + 100], [])
            due = store.due(app.ledger, "voyado")
            voyado_settings = settings.voyado
            expected = voyado_settings.seconds_for(due) * args.scale
            bucket_minimum = max(0, due - BUCKET_SIZE) / BUCKET_REFILL
            print(f"{args.orders} orders of {args.customers} customers: {due} look-ups to make; expected "
                  f"{duration(expected)} at VOYADO_RATE={args.rate:g}/s, burst {voyado_settings.burst}", flush=True)
            started = time.monotonic()
            _, looked = app.deliver_with_lookups()
            seconds = (time.monotonic() - started) * args.scale
            assert app.looker is not None
            answered = sum(looked.outcomes.values())
            repeated = sum(1 for n in voyado.lookups.values() if n > 1)
            print(f"\nVoyado look-ups of a backfill ({platform.python_implementation()} {platform.python_version()}, "
                  f"{datetime.now(UTC):%Y-%m-%d}, scale {args.scale:g})")
            print(f"  look-ups answered:       {answered} ({dict(sorted(looked.outcomes.items()))})")
            print(f"  requests sent:           {app.looker.requests} (e-mails asked more than once: {repeated})")
            print(f"  429s from the bucket:    {voyado.refused}")
            print(f"  bucket's peak level:     {voyado.bucket.peak:.1f} of {BUCKET_SIZE}")
            print(f"  duration:                {seconds:.0f} s ({duration(seconds)}) at the real refill")
            print(f"  our minimum:             {expected:.0f} s: ({due} - {voyado_settings.burst}) / {args.rate:g}/s"
                  f" -> {seconds / expected:.3f}x of it" if expected else "")
            print(f"  the bucket's minimum:    {bucket_minimum:.0f} s: ({due} - {BUCKET_SIZE}) / {BUCKET_REFILL:g}/s"
                  + (f" -> {seconds / bucket_minimum:.3f}x of it" if bucket_minimum else ""))
        finally:
            app.close()


if __name__ == "__main__":
    main()
