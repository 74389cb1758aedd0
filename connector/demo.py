"""`python -m connector demo`: the real pipeline against simulated stores and destinations on 127.0.0.1."""

from __future__ import annotations

import json
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
from connector.config import BigCommerceSettings
from connector.delivery import PassReport
from connector.ledger import State
from connector.polling import backfill
from connector.sandbox import (
    BigCommerceSandbox,
    OrderProtectionSandbox,
    SonarIDSandbox,
    SophioSandbox,
    VoyadoSandbox,
    WooCommerceSandbox,
    sample_bigcommerce_orders,
    sample_woocommerce_orders,
)
from connector.sandbox.bigcommerce_data import order_with_lines
from connector.sandbox.demo import (
    BC_HASH,
    BC_TOKEN,
    ORDERPROTECTION_TOKEN,
    SONARID_KEY,
    SOPHIO_KEY,
    SOPHIO_SECRET,
    WC_KEY,
    WC_SECRET,
    fresh_order,
    orderprotection_env,
    sandbox_env,
    sophio_env,
    voyado_env,
)


def run_demo(out: Console, *, orders: int = 36) -> None:
    with tempfile.TemporaryDirectory(prefix="connector-demo-") as tmp, \
            WooCommerceSandbox(WC_KEY, WC_SECRET) as wc, BigCommerceSandbox(BC_HASH, BC_TOKEN) as bc, \
            SonarIDSandbox(SONARID_KEY) as sonarid, \
            OrderProtectionSandbox(ORDERPROTECTION_TOKEN) as orderprotection, \
            SophioSandbox(SOPHIO_KEY, SOPHIO_SECRET) as sophio, VoyadoSandbox() as voyado:
        for order in sample_woocommerce_orders(orders, include_malformed=True):
            wc.add_order(order)
        for order in sample_bigcommerce_orders(orders):
            bc.add_order(order)
        emails = sorted({str(o["billing"].get("email") or "").strip().lower() for o in wc.orders.values()} - {""})
        for email in emails[::3]:  # a third of the WooCommerce customers are Voyado members
            voyado.add_member(email, level="gold")
        unpaid = [o["id"] for o in wc.orders.values() if o["status"] == "pending"]
        incomplete = [o["id"] for o in bc.orders.values() if o["status_id"] == 0]
        out.print(f"[bold]Sandbox[/]: WooCommerce store {wc.url} with {len(wc.orders)} orders "
                  f"({sum(o['status'] in ('processing', 'completed') for o in wc.orders.values())} paid), "
                  f"BigCommerce store {bc.api_url}/stores/{bc.store_hash} with {len(bc.orders)} orders "
                  f"({sum(o['status_id'] in BigCommerceSettings.status_ids for o in bc.orders.values())} paid, "
                  f"{len(incomplete)} Incomplete; quota {bc.quota.quota} requests per {bc.quota.window_ms // 1000} s), "
                  f"sonarID at {sonarid.url}, OrderProtection at {orderprotection.url}, Sophio at {sophio.url}, Voyado at "
                  f"{voyado.url} ({len(voyado.members)} members; its leaky bucket of {voyado.bucket.size} enforced)")
        sonarid.faults.add("status", status=500)
        sonarid.faults.add("429", retry_after=1)
        orderprotection.faults.add("status", status=503)
        sophio.faults.add("drop")
        out.print("sonarID will answer one 500 and one 429 (Retry-After: 1), OrderProtection one 503, and Sophio "
                  "will drop one connection along the way.\n")
        logging.getLogger("connector.sources").setLevel(logging.ERROR)  # the malformed order is reported below

        env = sandbox_env(wc, sonarid, Path(tmp) / "connector.db", bc) | orderprotection_env(orderprotection) \
            | sophio_env(sophio) | voyado_env(voyado)
        app = App(config.load(env))
        try:
            since = datetime.now(UTC) - timedelta(days=7)
            for name, source in app.sources.items():
                report = backfill(app.ledger, source, list(app.destinations), since=since, until=None)
                out.print(f"[bold]1. Backfill of the last 7 days ({name})[/]: {report.seen} orders read, "
                          f"{report.enqueued} deliveries queued, {report.rejected} malformed")
            out.print(f"   sent: {_sent(app.deliver_with_lookups()[0])}")
            _step(out, app, "2. First poll (the backfilled orders are not sent again)")
            if unpaid:
                wc.update_order(unpaid[0], status="processing")
                out.print(f"\nCustomer pays WooCommerce order #{unpaid[0]} (was pending).")
            new = wc.add_order(fresh_order(sample_woocommerce_orders(1, seed=99)[0]))
            out.print(f"A new paid WooCommerce order #{new['id']} arrives.")
            if incomplete:
                bc.update_order(incomplete[0], status_id=11, payment_method="Credit Card", payment_status="captured")
                out.print(f"BigCommerce order #{incomplete[0]} was Incomplete (status 0); its payment goes through "
                          "(status 11, Awaiting Fulfillment).")
            big = order_with_lines(300, order_id=max(bc.orders) + 1, now=bc.now())
            big = bc.add_order({k: v for k, v in big.items() if not k.startswith("date_")})
            out.print(f"A new paid BigCommerce order #{big['id']} arrives with {len(big['products'])} line items.")
            _step(out, app, "3. Second poll")
            _step(out, app, "4. Third poll (nothing new: nothing is sent again)")
            _summary(out, app, {"sonarid": sonarid, "orderprotection": orderprotection, "sophio": sophio})
            _loyalty(out, app, voyado, orderprotection)
            stored = app.ledger.order("bigcommerce", bc.store_hash, str(big["id"]))
            lines = len(json.loads(stored.data)["items"]) if stored else 0
            out.print(f"\nBigCommerce order #{big['id']}: {lines} of {len(big['products'])} line items in the ledger; "
                      f"BigCommerce answered {len(bc.requests)} requests, {bc.refused} of them with 429.")
            from connector.demo_sopost import run_sopost_demo

            run_sopost_demo(out, env, sonarid)
        finally:
            app.close()


def _loyalty(out: Console, app: App, voyado: VoyadoSandbox, orderprotection: OrderProtectionSandbox) -> None:
    """The look-ups' answers, and a member's order as OrderProtection received it."""
    from connector.lookups import store

    found = store.report(app.ledger, "voyado")
    answered = ", ".join(f"{n} {o}" for o, n in sorted(found["outcomes"].items()))
    out.print(f"\n[bold]voyado[/]: {found['done']} customers looked up ({answered}) in {len(voyado.requests)} requests, "
              f"{voyado.refused} answered 429; bucket's peak level {voyado.bucket.peak:.0f} of {voyado.bucket.size}.")
    tagged = [body for body in orderprotection.submissions if "voyado-member" in str(body.get("tags", ""))]
    if tagged:
        body = tagged[0]
        out.print(f"  A member's order reached OrderProtection: sourceOrderId {body['sourceOrderId']}, "
                  f"tags {body['tags']!r} ({len(tagged)} members' orders carry the tags).", markup=False)


def _step(out: Console, app: App, title: str) -> None:
    reports = app.poll()
    delivered = app.deliver_with_lookups()[0]
    read = ", ".join(f"{r.source} {r.seen} orders read, {r.new_orders} new" for r in reports)
    out.print(f"\n[bold]{title}[/]: {read}; {sum(r.enqueued for r in reports)} deliveries queued; "
              f"sent: {_sent(delivered)}")


def _sent(report: PassReport) -> str:
    by_destination: dict[str, list[str]] = {}
    for (destination, state), n in sorted(report.states.items()):
        by_destination.setdefault(destination, []).append(f"{n} {state}")
    return "; ".join(f"{d} {', '.join(states)}" for d, states in by_destination.items()) or "nothing"


Vendor = OrderProtectionSandbox | SonarIDSandbox | SophioSandbox


def _summary(out: Console, app: App, vendors: dict[str, Vendor]) -> None:
    rows = {name: {(row.source, row.order_id): row for row in app.ledger.deliveries(destination=name)}
            for name in vendors}
    orders = sorted({key for by_order in rows.values() for key in by_order},
                    key=lambda k: (k[0], int(k[1]) if k[1].isdigit() else 0))
    table = Table(title="\nWhat happened to each paid order (state, and the destination's reference)",
                  title_justify="left")
    table.add_column("order")
    for name in vendors:
        table.add_column(name, no_wrap=True)
    for source, order_id in orders:
        cells = []
        for name in vendors:
            row = rows[name].get((source, order_id))
            reference = (row.reference or "") if row else ""
            reference = f"{reference[:8]}…" if len(reference) > 12 else reference
            cells.append("" if row is None else f"{row.state} {reference}".strip())
        table.add_row(f"{source} #{order_id}", *cells)
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
