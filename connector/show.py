"""`show ORDER`: one order's whole story — its snapshot's key facts and, per destination, every answer.

"Did order 1042 reach Sophio, and if not, why?" is one command. Reads the ledger only.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console

from connector.ledger import Attempt, Delivery, Ledger, OrderRecord
from connector.redaction import redact


def collect(ledger: Ledger, order_id: str, source: str | None = None) -> list[dict[str, Any]]:
    """Every ledger order with this platform id or number (one per source and store), as plain data."""
    return [_order(record, deliveries) | {"loyalty": _loyalty(ledger, record)}
            for record, deliveries in ledger.story(order_id, source)]


def _loyalty(ledger: Ledger, record: OrderRecord) -> dict[str, Any] | None:
    """The order's customer look-up: its state, the answer and the kept fields; None when it has none."""
    from connector.lookups import store

    row = store.for_order(ledger, record.source, record.store, record.order_id)
    if row is None:
        return None
    return {"service": row.service, "state": row.state, "outcome": row.outcome, "answer": row.answer,
            "status_code": row.status_code, "fetched_at": _iso(row.fetched_at), "attempts": row.attempts,
            "next_attempt_at": _iso(row.next_attempt_at) if row.state != "done" else None,
            "membership": json.loads(row.loyalty) if row.loyalty else None}


def _order(record: OrderRecord, deliveries: list[tuple[Delivery, list[Attempt]]]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if record.content_hash:  # a readable snapshot; a malformed order keeps the raw platform JSON instead
        data = json.loads(record.data)
        shipping = data.get("shipping_address") or data.get("billing") or {}
        customer = data.get("customer") or {}
        facts = {
            "status": data.get("status"),
            "created_at": data.get("created_at"),
            "paid_at": data.get("paid_at"),
            "total": f"{data.get('total')} {data.get('currency')}" if _priced(record.source) else "none (a free sample)",
            "customer": customer.get("email") or "(no e-mail)",
            "items": sum(int(item.get("quantity") or 0) for item in data.get("items") or []),
            "lines": len(data.get("items") or []),
            "ship_to": ", ".join(p for p in (shipping.get("city"), shipping.get("country")) if p) or "-",
            "needs_shipping": data.get("needs_shipping"),
        }
        if data.get("consents") or data.get("answers"):  # SoPost: marketing consents and custom answers
            facts["consents"] = [f"{c.get('name') or c.get('id')} ({c.get('data_handler') or '-'}) {c.get('status')}"
                                 for c in data.get("consents") or []]
            facts["answers"] = [f"{a.get('question') or a.get('question_id')}: "
                                + ", ".join(o.get("value", "") for o in a.get("answers") or [])
                                for a in data.get("answers") or []]
    return {
        "source": record.source, "store": record.store, "order_id": record.order_id, "number": record.number,
        "modified_at": _iso(record.modified_at), "first_seen_at": _iso(record.first_seen_at),
        "error": redact(record.error) if record.error else None, "facts": facts,
        "deliveries": [{
            "destination": d.destination, "state": d.state, "reason": d.reason, "attempts": d.attempts,
            "ambiguous_attempts": d.ambiguous_attempts, "reference": d.reference,
            "last_attempt_at": _iso(d.last_attempt_at), "next_attempt_at": _iso(d.next_attempt_at),
            "delivered_at": _iso(d.delivered_at),
            "answers": [{"at": _iso(a.at), "state": a.state, "status_code": a.status_code, "message": a.message}
                        for a in attempts],
        } for d, attempts in deliveries],
    }


def _priced(source: str) -> bool:
    """Whether the source's orders carry money (a SoPost sample does not: its total is shown as none)."""
    from connector.registry import spec

    try:
        return spec(source, "source").priced
    except KeyError:
        return True
def _membership(lookup: dict[str, Any]) -> str:
    """"Voyado member 38666, level gold, 120 bonus points, registration complete (answer 200 contact at …)"."""
    m = lookup["membership"] or {}
    answer = f"{lookup['status_code'] or '-'} {lookup['answer'] or ''}".strip()
    said = f"answer {answer}" + (f" at {lookup['fetched_at']}" if lookup["fetched_at"] else "")
    if lookup["state"] != "done":
        pending = f"{lookup['service']} look-up {'in flight' if lookup['state'] == 'sending' else 'due'}"
        pending += f" (attempt {lookup['attempts']}, next {lookup['next_attempt_at']})" if lookup["attempts"] else ""
        return pending + (f"; last {said}" if lookup["answer"] else "") + (
            f"; until then the last answer: {m.get('outcome')}" if m else "")
    if m.get("outcome") == "member":
        facts = [f"member {m.get('member_number') or '(no number)'}", f"level {m.get('level') or '-'}",
                 f"{m.get('bonus_points') if m.get('bonus_points') is not None else '-'} bonus points",
                 "registration complete" if m.get("registration_complete") else "registration not complete",
                 f"contact {m.get('contact_id') or '-'}"]
        return f"{lookup['service']} " + ", ".join(facts) + f" ({said})"
    words = {"not_member": "not a member", "multiple_matches": "several contacts match the e-mail (none guessed)",
             "refused": "look-up refused for this e-mail (not retried)", "failed": "look-up failed (gave up)"}
    return f"{lookup['service']} {words.get(m.get('outcome') or '', lookup['outcome'] or '?')} ({said})"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def render(orders: list[dict[str, Any]], console: Console) -> None:
    """Plain lines, nothing cut: long values wrap on a narrow terminal, and pipe as they are."""
    for number, order in enumerate(orders):
        if number:
            console.print()
        console.print(f"{order['source']} {order['store']} order {order['order_id']}"
                      + (f" (number {order['number']})" if order["number"] and order["number"] != order["order_id"] else ""),
                      markup=False, style="bold")
        facts = order["facts"]
        if facts:
            console.print(f"  status {facts['status']}, total {facts['total']}, {facts['items']} items in "
                          f"{facts['lines']} lines, customer {facts['customer']}, ship to {facts['ship_to']}", markup=False)
            console.print(f"  created {facts['created_at']}, paid {facts['paid_at'] or '-'}, "
                          f"modified {order['modified_at'] or '-'}, first seen {order['first_seen_at'] or '-'}", markup=False)
        if facts.get("consents") is not None:
            console.print(f"  consents: {'; '.join(facts['consents']) or 'none'}", markup=False)
            for answer in facts.get("answers") or []:
                console.print(f"  answered {answer}", markup=False)
        if order["error"]:
            console.print(f"  could not be read: {order['error']}", markup=False)
        if order.get("loyalty"):
            console.print(f"  loyalty: {_membership(order['loyalty'])}", markup=False)
        if not order["deliveries"]:
            console.print("  no deliveries (no destination was enabled when it was read)", markup=False)
        for d in order["deliveries"]:
            line = f"  {d['destination']}: {d['state']}"
            if d["reference"]:
                line += f", reference {d['reference']}"
            if d["delivered_at"]:
                line += f", delivered {d['delivered_at']}"
            line += f", {d['attempts']} attempt{'s' if d['attempts'] != 1 else ''}"
            if d["ambiguous_attempts"]:
                line += f" ({d['ambiguous_attempts']} ambiguous)"
            if d["next_attempt_at"] and d["state"] in ("pending", "retrying"):
                line += f", next attempt {d['next_attempt_at']}"
            console.print(line, markup=False)
            if d["reason"]:
                console.print(f"    why: {d['reason']}", markup=False)
            for answer in d["answers"]:
                code = f"HTTP {answer['status_code']}" if answer["status_code"] else "no answer"
                console.print(f"    {answer['at']} {answer['state']}: {code}"
                              + (f": {answer['message']}" if answer["message"] else ""), markup=False)
