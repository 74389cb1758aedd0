"""The webhook inbox as `status` and `show` tell it (connector.inbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console

from connector.inbox import EventState, Inbox, summaries
from connector.ledger import Ledger


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def report(ledger: Ledger) -> dict[str, Any]:
    """Per webhook source: events by state, the oldest still waiting, the next re-check of an undecided order."""
    return {source: {"counts": s.counts, "oldest_waiting": _iso(s.oldest_waiting), "next_check": _iso(s.next_check),
                     "pending_orders": [e.order_id for e in Inbox(ledger, source).events(state=EventState.PENDING)][:50]}
            for source, s in summaries(ledger).items()}


def render(inbox: dict[str, Any], console: Console) -> None:
    if not inbox:
        return
    console.print("Webhook inbox", style="bold", markup=False)
    for source, s in inbox.items():
        counts = s["counts"]
        console.print(f"{source}: {counts['waiting']} events waiting to be read, {counts['pending']} orders being "
                      f"re-checked (PENDING at {source}), {counts['retrying']} reads retrying; closed: {counts['done']} "
                      f"recorded, {counts['rejected']} rejected, {counts['ignored']} ignored (status not sent on), "
                      f"{counts['failed']} failed", markup=False)
        if s["oldest_waiting"]:
            console.print(f"  oldest waiting since {s['oldest_waiting']}", markup=False)
        if s["next_check"]:
            console.print(f"  next re-check {s['next_check']}", markup=False)


def events(ledger: Ledger, order_id: str, source: str | None = None) -> list[dict[str, Any]]:
    """`show`: the inbox events about one order (SoPost's order id)."""
    found = []
    for name in [source] if source else list(summaries(ledger)):
        for e in Inbox(ledger, name).events(order_id=order_id):
            found.append({"source": name, "event_id": e.event_id, "event": e.event, "state": e.state,
                          "order_status": e.order_status, "reason": e.reason, "attempts": e.attempts,
                          "received_at": _iso(e.received_at), "next_attempt_at": _iso(e.next_attempt_at),
                          "closed_at": _iso(e.closed_at)})
    return found


def render_events(found: list[dict[str, Any]], console: Console) -> None:
    if not found:
        return
    console.print(f"webhook events for {found[0]['source']} order:", markup=False)
    for e in found:
        console.print(f"  {e['received_at']} {e['event']} (event {e['event_id']}): {e['state']}"
                      + (f", order {e['order_status']}" if e["order_status"] else "")
                      + (f", next read {e['next_attempt_at']}" if e["next_attempt_at"] else "")
                      + (f": {e['reason']}" if e["reason"] else ""), markup=False)
