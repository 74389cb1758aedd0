"""Requests the WooCommerce line weights add: N sample orders read 100 per page, cold and cached.

    .venv/bin/python bench/woocommerce_weights.py [--orders 1000]

The sandbox store holds `sample_woocommerce_orders(N)` (about 75% paid, 1-4 lines each, over the
sandbox catalogue of 9 products, 6 of them variable with 2-12 variations). One source scans every
order modified in the last 4 days (what the first poll or a backfill reads), then scans again with
the same source (the look-back window of every later poll). Counted from the sandbox's request log:
order listings, /products, /products/{id}/variations and the weight-unit setting.
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import UTC, datetime, timedelta

from connector.config import Secret, WooCommerceSettings
from connector.orders import Order
from connector.sandbox import WooCommerceSandbox, sample_woocommerce_orders
from connector.sandbox.server import RecordedRequest
from connector.sources.woocommerce import WooCommerce

KEY, SECRET = "ck_bench", "cs_bench"


def kind(request: RecordedRequest) -> str:
    path = request.path.removeprefix("/wp-json/wc/v3/")
    if path.startswith("products/"):
        return "variations"
    return {"orders": "listing", "products": "products"}.get(path, "unit" if path.startswith("settings/") else path)


def scan(source: WooCommerce, store: WooCommerceSandbox) -> tuple[Counter[str], int, int, int]:
    store.reset_requests()
    orders = [o for page in source.modified(datetime.now(UTC) - timedelta(days=4)) for o in page.orders]
    taken = [o for o in orders if isinstance(o, Order)]
    lines = sum(len(o.items) for o in taken)
    weighed = sum(1 for o in taken for i in o.items if i.weight is not None)
    return Counter(kind(r) for r in store.requests if r.method == "GET"), len(taken), lines, weighed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    args = parser.parse_args()
    with WooCommerceSandbox(KEY, SECRET, orders=sample_woocommerce_orders(args.orders, seed=11)) as store:
        source = WooCommerce(WooCommerceSettings(url=store.url, consumer_key=Secret(KEY),
                                                 consumer_secret=Secret(SECRET)))
        listed = len(store.orders)
        for label in ("cold (new source)", "cached (same source)"):
            counts, taken, lines, weighed = scan(source, store)
            added = counts["products"] + counts["variations"] + counts["unit"]
            print(f"{label}: {listed} orders in the store, {taken} taken ({lines} lines, {weighed} with a weight); "
                  f"listing pages {counts['listing']}; added: products {counts['products']}, "
                  f"variations {counts['variations']}, unit {counts['unit']} = {added} "
                  f"({added / max(taken, 1):.3f} per order taken, {added / max(counts['listing'], 1):.2f} per page)")


if __name__ == "__main__":
    main()
