"""`python -m connector demo`: the real pipeline against simulated stores and destinations on 127.0.0.1."""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from connector import config
from connector.app import App
from connector.delivery import PassReport
from connector.ledger import State
from connector.polling import backfill
from connector.sandbox import (
    OrderProtectionSandbox,
    SonarIDSandbox,
    SophioSandbox,
    WooCommerceSandbox,
    sample_woocommerce_orders,
)

WC_KEY, WC_SECRET, SONARID_KEY = "ck_sandbox_key", "cs_sandbox_secret", "sk_test_sandbox"
ORDERPROTECTION_TOKEN, SOPHIO_KEY, SOPHIO_SECRET = "op_test_sandbox", "sophio_sandbox", "orders_sandbox"


def sandbox_env(wc: WooCommerceSandbox, sonarid: SonarIDSandbox, database: Path) -> dict[str, str]:
    """The settings that point the pipeline at the sandbox servers."""
    return {
        "CONNECTOR_DATABASE_URL": f"sqlite:///{database}",
        "CONNECTOR_RETRY_BASE": "1",
        "CONNECTOR_LOOKBACK": "600",
        "WOOCOMMERCE_URL": wc.url,
        "WOOCOMMERCE_CONSUMER_KEY": WC_KEY,
        "WOOCOMMERCE_CONSUMER_SECRET": WC_SECRET,
        "SONARID_URL": sonarid.url,
        "SONARID_API_KEY": SONARID_KEY,
    }


def orderprotection_env(server: OrderProtectionSandbox) -> dict[str, str]:
    """The settings that turn OrderProtection on, pointed at its sandbox."""
    return {"ORDERPROTECTION_URL": server.url, "ORDERPROTECTION_API_TOKEN": server.api_token}


def sophio_env(server: SophioSandbox) -> dict[str, str]:
    """The settings that turn Sophio on, pointed at its sandbox."""
    return {"SOPHIO_STORE_URL": server.url, "SOPHIO_API_KEY": server.api_key, "SOPHIO_API_SECRET": server.api_secret}


def run_demo(out: Console, *, orders: int = 36) -> None:
    with tempfile.TemporaryDirectory(prefix="connector-demo-") as tmp, \
            WooCommerceSandbox(WC_KEY, WC_SECRET) as wc, SonarIDSandbox(SONARID_KEY) as sonarid, \
            OrderProtectionSandbox(ORDERPROTECTION_TOKEN) as orderprotection, \
            SophioSandbox(SOPHIO_KEY, SOPHIO_SECRET) as sophio:
        for order in sample_woocommerce_orders(orders, include_malformed=True):
            wc.add_order(order)
        unpaid = [o["id"] for o in wc.orders.values() if o["status"] == "pending"]
        out.print(f"[bold]Sandbox[/]: WooCommerce store {wc.url} with {len(wc.orders)} orders "
                  f"({sum(o['status'] in ('processing', 'completed') for o in wc.orders.values())} paid), "
                  f"sonarID at {sonarid.url}, OrderProtection at {orderprotection.url}, Sophio at {sophio.url}")
        sonarid.faults.add("status", status=500)
        sonarid.faults.add("429", retry_after=1)
        orderprotection.faults.add("status", status=503)
        sophio.faults.add("drop")
        out.print("sonarID will answer one 500 and one 429 (Retry-After: 1), OrderProtection one 503, and Sophio "
                  "will drop one connection along the way.\n")
        logging.getLogger("connector.sources").setLevel(logging.ERROR)  # the malformed order is reported below

        env = sandbox_env(wc, sonarid, Path(tmp) / "connector.db") | orderprotection_env(orderprotection) \
            | sophio_env(sophio)
        app = App(config.load(env))
        try:
            since = datetime.now(UTC) - timedelta(days=7)
            report = backfill(app.ledger, app.sources["woocommerce"], list(app.destinations), since=since, until=None)
            sent = app.deliver()
            out.print(f"[bold]1. Backfill of the last 7 days[/]: {report.seen} paid orders read, "
                      f"{report.enqueued} deliveries queued, {report.rejected} malformed; sent: {_sent(sent)}")
            _step(out, app, "2. First poll (the backfilled orders are not sent again)")
            if unpaid:
                wc.update_order(unpaid[0], status="processing")
                out.print(f"\nCustomer pays order #{unpaid[0]} (was pending).")
            new = wc.add_order(fresh_order(sample_woocommerce_orders(1, seed=99)[0]))
            out.print(f"A new paid order #{new['id']} arrives.")
            _step(out, app, "3. Second poll")
            _step(out, app, "4. Third poll (nothing new: nothing is sent again)")
            _summary(out, app, {"sonarid": sonarid, "orderprotection": orderprotection, "sophio": sophio})
        finally:
            app.close()


def fresh_order(order: dict[str, Any], status: str = "processing") -> dict[str, Any]:
    """A sample order as if placed and paid just now: no id, no dates (the store assigns them)."""
    fresh = {k: v for k, v in order.items() if not k.startswith("date_") and k not in ("id", "number")}
    return fresh | {"status": status}


def _step(out: Console, app: App, title: str) -> None:
    [report] = app.poll()
    delivered = app.deliver()
    out.print(f"\n[bold]{title}[/]: {report.seen} orders read, {report.new_orders} new, "
              f"{report.enqueued} deliveries queued; sent: {_sent(delivered)}")


def _sent(report: PassReport) -> str:
    by_destination: dict[str, list[str]] = {}
    for (destination, state), n in sorted(report.states.items()):
        by_destination.setdefault(destination, []).append(f"{n} {state}")
    return "; ".join(f"{d} {', '.join(states)}" for d, states in by_destination.items()) or "nothing"


Vendor = OrderProtectionSandbox | SonarIDSandbox | SophioSandbox


def _summary(out: Console, app: App, vendors: dict[str, Vendor]) -> None:
    rows = {name: {row.order_id: row for row in app.ledger.deliveries(destination=name)} for name in vendors}
    order_ids = sorted({order_id for by_order in rows.values() for order_id in by_order},
                       key=lambda o: int(o) if o.isdigit() else 0)
    table = Table(title="\nWhat happened to each paid order (state, and the destination's reference)",
                  title_justify="left")
    table.add_column("order")
    for name in vendors:
        table.add_column(name, no_wrap=True)
    for order_id in order_ids:
        cells = []
        for name in vendors:
            row = rows[name].get(order_id)
            reference = (row.reference or "") if row else ""
            reference = f"{reference[:8]}…" if len(reference) > 12 else reference
            cells.append("" if row is None else f"{row.state} {reference}".strip())
        table.add_row(f"#{order_id}", *cells)
    out.print(table)
    for name, vendor in vendors.items():
        states = Counter(row.state for row in rows[name].values())
        duplicates = sum(1 for key in vendor.orders if vendor.submissions_for(key) > 1)
        out.print(f"\n[bold]{name}[/]: delivered {states[State.DELIVERED]}, skipped {states[State.SKIPPED]}, "
                  f"dead {states[State.DEAD]}, still queued {states[State.PENDING] + states[State.RETRYING]}. "
                  f"It received {len(vendor.submissions)} accepted submissions for {len(vendor.orders)} distinct "
                  f"orders; orders submitted more than once: {duplicates}.")
        _why(out, list(rows[name].values()))


def _why(out: Console, rows: list[Any]) -> None:
    reasons = Counter((row.state, row.reason) for row in rows if row.state in (State.SKIPPED, State.DEAD))
    for (state, reason), count in reasons.items():
        out.print(f"  {state}: {count} × {reason}", markup=False)
