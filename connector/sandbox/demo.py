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
from connector.sandbox import SonarIDSandbox, WooCommerceSandbox, sample_woocommerce_orders

WC_KEY, WC_SECRET, SONARID_KEY = "ck_sandbox_key", "cs_sandbox_secret", "sk_test_sandbox"


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


def run_demo(out: Console, *, orders: int = 36) -> None:
    with tempfile.TemporaryDirectory(prefix="connector-demo-") as tmp, \
            WooCommerceSandbox(WC_KEY, WC_SECRET) as wc, SonarIDSandbox(SONARID_KEY) as sonarid:
        for order in sample_woocommerce_orders(orders, include_malformed=True):
            wc.add_order(order)
        unpaid = [o["id"] for o in wc.orders.values() if o["status"] == "pending"]
        out.print(f"[bold]Sandbox[/]: WooCommerce store {wc.url} with {len(wc.orders)} orders "
                  f"({sum(o['status'] in ('processing', 'completed') for o in wc.orders.values())} paid), "
                  f"sonarID at {sonarid.url}")
        sonarid.faults.add("status", status=500)
        sonarid.faults.add("429", retry_after=1)
        out.print("sonarID will answer one 500 and one 429 (Retry-After: 1) along the way.\n")
        logging.getLogger("connector.sources").setLevel(logging.ERROR)  # the malformed order is reported below

        settings = config.load(sandbox_env(wc, sonarid, Path(tmp) / "connector.db"))
        app = App(settings)
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
            _summary(out, app, sonarid)
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
    return ", ".join(f"{n} {state}" for (_, state), n in sorted(report.states.items())) or "nothing"


def _summary(out: Console, app: App, sonarid: SonarIDSandbox) -> None:
    rows = app.ledger.deliveries(destination="sonarid")
    table = Table(title="\nWhat happened to each paid order (sonarID)", title_justify="left")
    for column in ("order", "state", "attempts", "sonarID reference / reason"):
        table.add_column(column)
    for row in sorted(rows, key=lambda r: int(r.order_id) if r.order_id.isdigit() else 0):
        detail = row.reference if row.state == State.DELIVERED else (row.reason or row.message or "")
        table.add_row(f"#{row.order_id}", row.state, str(row.attempts), detail or "")
    out.print(table)
    states = Counter(row.state for row in rows)
    duplicates = sum(1 for order_id in sonarid.orders if sonarid.submissions_for(order_id) > 1)
    out.print(f"\nDelivered {states[State.DELIVERED]}, skipped {states[State.SKIPPED]}, dead {states[State.DEAD]}, "
              f"still queued {states[State.PENDING] + states[State.RETRYING]}.")
    out.print(f"sonarID received {len(sonarid.submissions)} accepted submissions for {len(sonarid.orders)} distinct "
              f"orders; orders submitted more than once: {duplicates}.")
    _why(out, rows)


def _why(out: Console, rows: list[Any]) -> None:
    reasons = Counter((row.state, row.reason) for row in rows if row.state in (State.SKIPPED, State.DEAD))
    for (state, reason), count in reasons.items():
        out.print(f"  {state}: {count} × {reason}", markup=False)
