"""Backfill of N BigCommerce orders from the sandbox at a store quota (default 1,000 orders at 150 requests / 30 s).

    .venv/bin/python bench/bigcommerce_backfill.py [--orders 1000] [--quota 150] [--window 30] [--scale 10]

Time is scaled: the sandbox's window is `window / scale` seconds with the same quota, so the run
is `scale` times faster than a real store; every duration below is multiplied back by `scale`
and reported at the real window. The theoretical minimum is `requests / quota × window`: every
request the backfill needed, at the full quota and no pause for other apps.

Measured:
1. the backfill (source → ledger, as `connector backfill` does it): requests, requests per
   order, 429s, duration vs the theoretical minimum and vs the estimate shown up front;
2. a live poll of new orders (requests per order polled), and the next poll over the same
   look-back window (what re-reading costs when the ledger already holds the orders);
3. the listing cost of the two ways to take only some statuses: filter on our side (one
   listing) or one listing per `status_id` (the API takes one status per call).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from connector.config import BigCommerceSettings, Secret
from connector.ledger import Ledger
from connector.polling import backfill, poll
from connector.sandbox import BigCommerceSandbox, sample_bigcommerce_orders
from connector.sources.base import duration
from connector.sources.bigcommerce import LIMIT, BigCommerce

STATUS_IDS = (2, 3, 8, 9, 10, 11)
HASH, TOKEN = "bench1", "bc_bench_token"


@dataclass
class Run:
    requests: int
    seconds: float
    refused: int


def source_for(store: BigCommerceSandbox) -> BigCommerce:
    source = BigCommerce(BigCommerceSettings(store_hash=HASH, access_token=Secret(TOKEN), client_id=None,
                                             api_url=store.api_url))
    return source  # the poll loop (`drain`) asks the ledger for what it holds, as in the service


def fresh(order: dict) -> dict:
    return {k: v for k, v in order.items() if not k.startswith("date_") and k != "id"}


def listing_requests(store: BigCommerceSandbox, status_id: int | None) -> int:
    """GET /orders pages a full scan takes (until a short page or a 204), optionally for one status."""
    session = requests.Session()
    session.headers["X-Auth-Token"] = TOKEN
    page, sent = 1, 0
    while True:
        params: dict[str, str | int] = {"limit": LIMIT, "page": page, "sort": "date_created:asc"}
        if status_id is not None:
            params["status_id"] = status_id
        response = session.get(f"{store.api_url}/stores/{HASH}/v2/orders", params=params, timeout=30)
        sent += 1
        if response.status_code == 204 or len(response.json()) < LIMIT:
            return sent
        page += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--quota", type=int, default=150, help="requests per window (Standard/Plus: 150)")
    parser.add_argument("--window", type=float, default=30.0, help="the store's window in seconds")
    parser.add_argument("--scale", type=float, default=10.0, help="run the window this many times faster")
    parser.add_argument("--new", type=int, default=100, help="new orders for the live-poll measurement")
    args = parser.parse_args()
    scale, window = args.scale, args.window
    window_ms = max(1, round(window * 1000 / scale))

    print(f"# BigCommerce backfill benchmark: {args.orders} orders at {args.quota} requests / {window:g} s")
    print(f"machine: {platform.machine()} {platform.processor() or ''} {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}; sandbox window {window_ms} ms (×{scale:g} faster), "
          f"durations converted back ×{scale:g}\n")

    with tempfile.TemporaryDirectory() as tmp, \
            BigCommerceSandbox(HASH, TOKEN, quota=args.quota, window_ms=window_ms) as store:
        now = datetime.now(UTC)
        for order in sample_bigcommerce_orders(args.orders, seed=1, now=now - timedelta(minutes=30)):
            store.add_order(order)
        listed = [o for o in store.orders.values() if o["status_id"] != 0]
        eligible = [o for o in listed if o["status_id"] in STATUS_IDS]
        ledger = Ledger(f"sqlite:///{Path(tmp) / 'bench.db'}")
        source = source_for(store)
        since = now - timedelta(days=4)

        estimate = source.estimate(since, None)
        store.reset_requests()
        started = time.monotonic()
        report = backfill(ledger, source, ["sonarid"], since=since, until=None)
        elapsed = (time.monotonic() - started) * scale
        sent = len(store.requests)
        assert report.error is None, report.error
        assert report.enqueued == len(eligible), (report.enqueued, len(eligible))
        minimum = sent / args.quota * window
        per_order = sent / len(eligible)
        print("## 1. Backfill")
        print(f"- orders in the store: {args.orders} ({len(listed)} listed, {len(eligible)} in status ids "
              f"{','.join(map(str, STATUS_IDS))}, {args.orders - len(listed)} Incomplete)")
        print(f"- requests: {sent} ({per_order:.2f} per order taken, {sent / len(listed):.2f} per order listed); "
              f"429 answers: {store.refused} (our own pacing) / handled: {source.api.rate_limited}")
        print(f"- duration: {duration(elapsed)} ({elapsed:.0f} s) vs theoretical minimum {duration(minimum)} "
              f"({minimum:.0f} s): ×{elapsed / minimum:.3f}")
        print(f"- estimate shown up front: {estimate.requests} requests, {estimate.expected or 'no time'} "
              f"(scaled: {duration((estimate.seconds or 0) * scale)}); quota reserve left to other apps: "
              f"{source.api.limit.reserve} per window")
        if args.orders != 10_000:
            projected = 10_000 / args.orders * sent
            print(f"- a store of 10,000 such orders: ≈{projected:.0f} requests, "
                  f"≈{duration(elapsed / minimum * projected / args.quota * window)} at the same ratio "
                  f"(theoretical minimum {duration(projected / args.quota * window)})")
        print()

        print("## 2. Live polls")
        store.reset_requests()
        for order in sample_bigcommerce_orders(args.new, seed=2):
            store.add_order(fresh(order))
        new_eligible = sum(1 for o in list(store.orders.values())[-args.new:] if o["status_id"] in STATUS_IDS)
        first = poll(ledger, source, ["sonarid"], lookback=600)
        first_requests = len(store.requests)
        store.reset_requests()
        second = poll(ledger, source, ["sonarid"], lookback=600)
        second_requests = len(store.requests)
        assert first.new_orders == new_eligible and second.new_orders == 0
        print(f"- first poll over {args.new} new orders ({first.seen} listed, {new_eligible} taken): "
              f"{first_requests} requests = {first_requests / max(1, new_eligible):.2f} per order taken")
        print(f"- next poll, same look-back window, nothing changed: {second_requests} request(s) for "
              f"{second.seen} listed orders ({second_requests / max(1, second.seen):.3f} per order)\n")

        print("## 3. Taking only some statuses: listing requests for the whole store")
        store.quota.quota = None  # measure the listing alone
        ours = listing_requests(store, None)
        per_status = {status: listing_requests(store, status) for status in STATUS_IDS}
        listed_now = sum(1 for o in store.orders.values() if o["status_id"] != 0)
        print(f"- one listing, filtered on our side: {ours} requests for {listed_now} listed orders")
        print(f"- one listing per status id: {sum(per_status.values())} requests ({per_status})")
        print(f"- per poll of a quiet store: 1 request vs {len(STATUS_IDS)} (each status answers 204)")
        ledger.close()
        source.close()


if __name__ == "__main__":
    main()
