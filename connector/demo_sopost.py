"""The demo's SoPost part: sample orders arriving by webhook at the real listener and reaching sonarID."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from rich.console import Console

from connector import config
from connector.app import App
from connector.inbox import EventState
from connector.sandbox import SonarIDSandbox, SoPostSandbox, sample_sopost_order
from connector.sandbox.demo import SOPOST_WEBHOOK_SECRET, sopost_env
from connector.sopost_backfill import register
from connector.web import Hook, Listener, WebApp


def run_sopost_demo(out: Console, env: Mapping[str, str], sonarid: SonarIDSandbox) -> None:
    logging.getLogger("connector.sopost").setLevel(logging.ERROR)  # the 404 is reported below
    with SoPostSandbox() as sopost:
        settings = config.load({**env, **sopost_env(sopost)})
        app = App(settings)
        woken = threading.Event()
        assert app.intake is not None
        web = WebApp(app.ledger, hooks={"sopost": Hook(SOPOST_WEBHOOK_SECRET, app.intake.inbox, wake=woken.set)})
        listener = Listener(web, "127.0.0.1", 0)
        listener.start()
        try:
            hook = register(settings, f"{listener.url}/webhooks/sopost/{SOPOST_WEBHOOK_SECRET}", None)
            out.print(f"\n[bold]5. SoPost sample orders by webhook[/]: SoPost at {sopost.url}; the listener at "
                      f"{listener.url}; `webhooks register` created webhook {hook.get('id')} (OrderEvent, "
                      f"{hook.get('entity_type')} {hook.get('entity_id')})")
            orders = {
                "approved, with marketing consent": sopost.add_order(sample_sopost_order(1)),
                "pending at first, approved a moment later": sopost.add_order(sample_sopost_order(2, status="PENDING")),
                "rejected by SoPost": sopost.add_order(sample_sopost_order(3, status="REJECTED")),
                "approved, without marketing consent": sopost.add_order(sample_sopost_order(4, consent=False)),
            }
            missing = "5050dead-0000-4000-8000-000000000000"
            sent_at: dict[str, float] = {}
            for what, order_id in orders.items():
                event = sopost.event(order_id)
                sent_at[order_id] = time.monotonic()
                codes = sopost.send(event)
                number = sopost.orders[order_id]["short_id"]
                out.print(f"   SoPost posts {event['event']} for the order {what} (#{number}): answered {codes}")
                if what == "approved, with marketing consent":
                    out.print(f"   SoPost posts the same event again (event_id {event['event_id'][:8]}…): "
                              f"answered {sopost.send(event)}, stored once")
            out.print(f"   SoPost posts APPROVED for an order it does not have ({missing}): answered "
                      f"{sopost.send(sopost.event(missing, 'APPROVED'))}")
            reached: dict[str, float] = {}
            pending = orders["pending at first, approved a moment later"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                woken.wait(0.2)
                woken.clear()
                app.intake.run_due()
                app.deliver()
                if sopost.fetches(pending) >= 1 and sopost.orders[pending]["status"] == "PENDING":
                    sopost.set_status(pending, "APPROVED")  # SoPost's filtering approves it
                    out.print(f"   SoPost approves the pending order #{sopost.orders[pending]['short_id']}; the intake "
                              "reads it again (no new event needed)")
                for order_id in orders.values():
                    if order_id not in reached and sonarid.submissions_for(f"sp_{order_id}"):
                        reached[order_id] = time.monotonic()
                if len(reached) == 2 and not app.intake.inbox.events(state=EventState.PENDING):
                    break
            for what, order_id in orders.items():
                rows = app.ledger.deliveries(order_id=order_id)
                state = ", ".join(f"{r.destination} {r.state}" + (f" ({r.reason})" if r.reason and r.state == "skipped"
                                                                  else "") for r in rows) or "not sent on"
                took = f" — webhook to sonarID in {(reached[order_id] - sent_at[order_id]) * 1000:.0f} ms" \
                    if order_id in reached else ""
                out.print(f"   #{sopost.orders[order_id]['short_id']} {what}: {state}{took}", markup=False)
            for event in app.intake.inbox.events():
                if event.state in (EventState.REJECTED, EventState.FAILED):
                    number = sopost.orders.get(event.order_id, {}).get("short_id", event.order_id)
                    out.print(f"   its event for #{number} is {event.state}: {event.reason}", markup=False)
        finally:
            listener.stop()
            app.close()
