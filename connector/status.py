"""`status`: what happened to every order, per destination, in one command."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from connector.config import Settings
from connector.ledger import Ledger, State, utcnow
from connector.redaction import redact

STATES = [s.value for s in State]
SHOWN = 10  # orders not read listed by the table (`--json` lists up to 50, the latest first)


def collect(settings: Settings) -> dict[str, Any]:
    ledger = Ledger(settings.database_url)
    try:
        counts = ledger.counts()
        destinations = []
        for name in sorted(set(counts) | set(settings.destinations)):
            oldest = ledger.oldest_undelivered(name)
            failure = ledger.last_failure(name)
            destinations.append({
                "destination": name,
                "enabled": name in settings.destinations,
                "counts": {state: counts.get(name, {}).get(state, 0) for state in STATES},
                "oldest_undelivered": None if oldest is None else {
                    "source": oldest.source, "order_id": oldest.order_id, "since": _iso(oldest.created_at),
                    "state": oldest.state, "reason": oldest.reason},
                "last_error": None if failure is None else {
                    "source": failure.source, "order_id": failure.order_id, "state": failure.state,
                    "at": _iso(failure.updated_at), "status_code": failure.status_code,
                    "reason": failure.reason, "message": failure.message},
                "next_attempt_at": _iso(ledger.next_due(name)),
            })
        cursors = [{
            "source": c.source, "store": c.store, "name": c.name, "position": _iso(c.position),
            "last_poll_at": _iso(c.last_poll_at), "last_poll_seen": c.last_poll_seen,
            "last_poll_enqueued": c.last_poll_enqueued, "last_error": c.last_error, "done": c.done,
        } for c in ledger.cursors()]
        problems = ledger.unreadable(limit=50)
        for row in problems["latest"]:
            row.update(first_seen_at=_iso(row["first_seen_at"]), updated_at=_iso(row["updated_at"]))
        return {"generated_at": _iso(utcnow()), "database": redact(settings.database_url),
                "sources_enabled": settings.sources, "destinations": destinations, "cursors": cursors,
                "orders_not_read": problems}
    finally:
        ledger.close()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def render(report: dict[str, Any], console: Console) -> None:
    table = Table(title="Deliveries by destination", title_justify="left")
    table.add_column("destination")
    for state in STATES:
        table.add_column(state, justify="right")
    table.add_column("oldest undelivered")
    for d in report["destinations"]:
        oldest = d["oldest_undelivered"]
        table.add_row(d["destination"] + ("" if d["enabled"] else " (off)"), *[str(d["counts"][s]) for s in STATES],
                      f"{oldest['source']} #{oldest['order_id']} since {oldest['since']}" if oldest else "-")
    console.print(table)
    for d in report["destinations"]:
        failure = d["last_error"]
        if failure:
            console.print(f"last error {d['destination']}: {failure['source']} #{failure['order_id']} "
                          f"{failure['state']} at {failure['at']}: {failure['reason'] or failure['message']}", markup=False)
    problems = report["orders_not_read"]
    if problems["malformed"] or problems["read_again"]:
        console.print(f"orders not read: {problems['malformed']} malformed (their deliveries are dead; re-evaluated "
                      f"when the order changes on the platform), {problems['read_again']} to read again "
                      "(details failed to load; read again at each poll)", markup=False)
        for row in problems["latest"][:SHOWN]:
            console.print(f"  {row['source']} #{row['order_id']} {row['kind']} since {row['first_seen_at']}: "
                          f"{row['reason']}", markup=False)
        if len(problems["latest"]) > SHOWN:
            console.print(f"  … more in `status --json`", markup=False)
    cursors = Table(title="Sources", title_justify="left")
    for column in ("source", "store", "cursor", "position", "last poll", "seen", "queued", "last error"):
        cursors.add_column(column)
    for c in report["cursors"]:
        cursors.add_row(c["source"], c["store"], c["name"], c["position"] or "-", c["last_poll_at"] or "-",
                        str(c["last_poll_seen"]), str(c["last_poll_enqueued"]), c["last_error"] or "")
    console.print(cursors)
