"""`status`: what happened to every order, per destination, in one command."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rich.console import Console

from connector import inbox_view
from connector.config import Settings
from connector.formats import duration
from connector.ledger import Backlog, Ledger, State, utcnow
from connector.redaction import redact

STATES = [s.value for s in State]
SHOWN = 10  # orders not read listed by the table (`--json` lists up to 50, the latest first)


def collect(settings: Settings) -> dict[str, Any]:
    ledger = Ledger(settings.database_url)
    try:
        counts = ledger.counts()
        backlogs = ledger.backlog()
        now = utcnow()
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
                "backlog": _backlog(backlogs.get(name), now, settings.retry_for),
            })
        cursors = [{
            "source": c.source, "store": c.store, "name": c.name, "position": _iso(c.position),
            "last_poll_at": _iso(c.last_poll_at), "last_poll_seen": c.last_poll_seen,
            "last_poll_enqueued": c.last_poll_enqueued, "last_error": c.last_error, "done": c.done,
        } for c in ledger.cursors()]
        polls = [{"source": p.source, "store": p.store, "holder": p.holder, "held": _live(p.expires_at, now),
                  "taken_at": _iso(p.taken_at), "last_poll_started_at": _iso(p.renewed_at),
                  "expires_at": _iso(p.expires_at)} for p in ledger.poll_leases()]
        problems = ledger.unreadable(limit=50)
        for row in problems["latest"]:
            row.update(first_seen_at=_iso(row["first_seen_at"]), updated_at=_iso(row["updated_at"]))
        return {"generated_at": _iso(utcnow()), "database": redact(settings.database_url),
                "schema_revision": ledger.revision,  # the ledger's Alembic revision (brought up to date on opening)
                "sources_enabled": settings.sources, "destinations": destinations, "cursors": cursors,
                "polls": polls,  # which instance polls which store (several instances on one ledger)
                "orders_not_read": problems,
                "inbox": inbox_view.report(ledger),  # webhook events (SoPost) by state
                "lookups": _lookups(settings, ledger, now)}
    finally:
        ledger.close()


def _lookups(settings: Settings, ledger: Ledger, now: datetime) -> list[dict[str, Any]]:
    """Per look-up service (on, or with rows in the ledger): answers by outcome, and the limiter's backlog."""
    from connector.lookups import store, voyado

    found = store.report(ledger, voyado.SPEC.name, now)
    configured = settings.voyado
    if configured is None and not (found["done"] or found["due"] or found["in_flight"]):
        return []
    backlog = found["due"] + found["in_flight"]
    found.update(service=voyado.SPEC.name, enabled=configured is not None, backlog=backlog,
                 rate=configured.rate if configured else None, burst=configured.burst if configured else None,
                 wait=configured.wait if configured else None,
                 clears_in_seconds=round(configured.seconds_for(found["due_now"] + found["in_flight"]))
                 if configured else None)
    return [found]


def _backlog(backlog: Backlog | None, now: datetime, retry_for: float) -> dict[str, Any]:
    """Undelivered rows, the age of the oldest, and when the longest-failing one is given up on."""
    if backlog is None:
        return {"count": 0, "oldest_since": None, "age_seconds": 0, "failing_since": None, "dead_after": None}
    age = (now - backlog.oldest_since).total_seconds() if backlog.oldest_since else 0.0
    dead_after = None
    if backlog.failing_since is not None:
        try:
            dead_after = _iso(backlog.failing_since + timedelta(seconds=retry_for))
        except OverflowError:  # a horizon beyond the calendar: never
            dead_after = None
    return {"count": backlog.count, "oldest_since": _iso(backlog.oldest_since), "age_seconds": max(0, int(age)),
            "failing_since": _iso(backlog.failing_since), "dead_after": dead_after}


def _live(until: datetime | None, now: datetime) -> bool:
    return until is not None and until > now


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def render(report: dict[str, Any], console: Console) -> None:
    """Plain lines, one fact per line: nothing is cut on a narrow terminal, and a pipe gets plain text."""
    console.print(f"Ledger {report['database']}: schema revision {report['schema_revision']}", markup=False)
    console.print("Deliveries by destination", style="bold", markup=False)
    if not report["destinations"]:
        console.print("  none yet", markup=False)
    for d in report["destinations"]:
        counts = d["counts"]
        console.print(f"{d['destination']}{'' if d['enabled'] else ' (off)'}: "
                      + ", ".join(f"{counts[state]} {state}" for state in STATES), markup=False)
        oldest = d["oldest_undelivered"]
        backlog = d["backlog"]
        if oldest and backlog["count"]:
            line = (f"  backlog {backlog['count']}: oldest {oldest['source']} #{oldest['order_id']} ({oldest['state']}) "
                    f"waiting {duration(backlog['age_seconds'])} since {backlog['oldest_since']}")
            if backlog["failing_since"]:
                until = f"{backlog['dead_after']}, then dead" if backlog["dead_after"] else "it is delivered"
                line += f"; failing since {backlog['failing_since']}, retried until {until} (CONNECTOR_RETRY_FOR)"
            line += f": {oldest['reason']}" if oldest["reason"] else ""
            console.print(line, markup=False)
        if d["next_attempt_at"]:
            console.print(f"  next attempt {d['next_attempt_at']}", markup=False)
        failure = d["last_error"]
        if failure:
            console.print(f"  last error {failure['source']} #{failure['order_id']} {failure['state']} at "
                          f"{failure['at']}: {failure['reason'] or failure['message']}", markup=False)
    problems = report["orders_not_read"]
    if problems["malformed"] or problems["read_again"]:
        console.print(f"Orders not read: {problems['malformed']} malformed (their deliveries are dead; re-evaluated "
                      f"when the order changes on the platform), {problems['read_again']} to read again "
                      "(details failed to load; read again at each poll)", markup=False)
        for row in problems["latest"][:SHOWN]:
            console.print(f"  {row['source']} #{row['order_id']} {row['kind']} since {row['first_seen_at']}: "
                          f"{row['reason']}", markup=False)
        if len(problems["latest"]) > SHOWN:
            console.print(f"  and {len(problems['latest']) - SHOWN} more in `status --json`", markup=False)
    inbox_view.render(report.get("inbox", {}), console)
    if report.get("lookups"):
        console.print("Look-ups", style="bold", markup=False)
    for lookup in report.get("lookups", []):
        answered = ", ".join(f"{n} {o}" for o, n in sorted(lookup["outcomes"].items())) or "none answered yet"
        console.print(f"{lookup['service']}{'' if lookup['enabled'] else ' (off)'}: {answered}", markup=False)
        line = (f"  limiter backlog {lookup['backlog']}: {lookup['due_now']} due now, {lookup['retrying']} retrying later, "
                f"{lookup['in_flight']} in flight; {lookup['orders_waiting']} orders waiting for their look-up")
        if lookup["enabled"]:
            line += (f"; clears in about {duration(lookup['clears_in_seconds'])} at VOYADO_RATE={lookup['rate']:g}/s "
                     f"(burst {lookup['burst']}); a delivery waits {duration(lookup['wait'])} at most (VOYADO_WAIT)")
        console.print(line, markup=False)
    console.print("Sources", style="bold", markup=False)
    if not report["cursors"]:
        console.print("  not polled yet", markup=False)
    for c in report["cursors"]:
        console.print(f"{c['source']} {c['store']} {c['name']}: position {c['position'] or '-'}, last poll "
                      f"{c['last_poll_at'] or '-'}, {c['last_poll_seen']} seen, {c['last_poll_enqueued']} queued"
                      + (", done" if c["done"] else ""), markup=False)
        if c["last_error"]:
            console.print(f"  last error: {c['last_error']}", markup=False)
    for p in report.get("polls", []):
        if p["held"]:
            console.print(f"{p['source']} {p['store']} polled by {p['holder']} since {p['taken_at']}, last poll started "
                          f"{p['last_poll_started_at']}, lease until {p['expires_at']}", markup=False)
        else:
            console.print(f"{p['source']} {p['store']} polled by no instance now (last {p['holder'] or '-'}, "
                          f"until {p['expires_at'] or '-'})", markup=False)
