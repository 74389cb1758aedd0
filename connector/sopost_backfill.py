"""SoPost's commands: `backfill --source sopost --ids FILE` and `webhooks register --source sopost`.

A backfilled id goes through the same inbox and intake as a webhook event (a synthetic event
`backfill:<order id>:<time>`), so it is read, decided and recorded exactly like one; an order that is
still PENDING stays in the inbox for the running service to re-check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer
from rich.console import Console

from connector.config import Settings
from connector.errors import BadInput
from connector.ledger import utcnow
from connector.sources.base import SourceAuthError, SourceConfigError, SourceError

SOURCE = "sopost"


def _enabled(settings: Settings) -> None:
    if settings.of(SOURCE) is None:
        from connector.registry import spec

        raise BadInput(f"--source: sopost is not enabled (set {spec(SOURCE).enabled_by})")


def order_ids(path: str) -> list[str]:
    """One id a line; blank lines and `#` comments skipped; a header line `id`/`order_id` skipped; in order, once each."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BadInput(f"--ids: {path}: {exc.strerror}") from None
    seen: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), 1):
        value = line.split(",")[0].strip().strip('"')
        if not value or value.startswith("#") or (number == 1 and value.lower() in ("id", "order_id")):
            continue
        if len(value) > 200 or any(c.isspace() for c in value):
            raise BadInput(f"--ids: {path} line {number}: not an order id: {value[:60]!r}")
        seen.setdefault(value, None)
    if not seen:
        raise BadInput(f"--ids: {path} holds no order id")
    return list(seen)


def backfill_ids(settings: Settings, path: str, out: Console, err: Console) -> None:
    from connector.app import App

    _enabled(settings)
    ids = order_ids(path)
    pipeline = App(settings)
    try:
        intake = pipeline.intake
        stamp = utcnow().strftime("%Y%m%dT%H%M%S")
        new = sum(intake.inbox.receive(f"backfill:{order_id}:{stamp}", "BACKFILL", order_id, "") for order_id in ids)
        report = intake.run_due()
        if report.stopped:
            err.print(f"error: {report.stopped}", markup=False)
        out.print(f"sopost: {len(ids)} order ids, {new} taken in; {report.describe()}; {report.enqueued} deliveries queued"
                  + ("; orders still PENDING are re-checked by the running service" if report.states.get("pending") else ""),
                  markup=False)
        delivered = pipeline.deliver()
        for (destination, state), count in sorted(delivered.states.items()):
            out.print(f"{destination}: {count} {state}", markup=False)
        if report.stopped or delivered.paused:
            raise typer.Exit(1)
    finally:
        pipeline.close()


def register(settings: Settings, url: str, campaign: str | None) -> dict[str, Any]:
    from connector.sources.sopost import SoPost

    _enabled(settings)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"--url: expected the public https:// URL of this service's webhook path (got {url!r})")
    source = SoPost(settings.of(SOURCE), timeout=settings.http_timeout, trust=settings.trust)  # type: ignore[arg-type]
    try:
        return source.register_webhook(url, campaign=campaign)
    except (SourceAuthError, SourceConfigError) as exc:
        raise BadInput(str(exc)) from None
    except SourceError as exc:
        raise BadInput(f"SoPost did not create the webhook: {exc}") from None
    finally:
        source.close()
