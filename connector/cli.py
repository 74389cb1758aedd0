"""Command line (DESIGN.md contract). Exit codes: 0 success, 2 bad input or configuration
(one line on stderr), 1 unexpected failure."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime, time
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from connector import config, logs, wire
from connector.adapters import words
from connector.config import DESTINATIONS, SOURCES, ConfigError, Settings
from connector.errors import BadInput, DatabaseDown, LedgerUnavailable
from connector.redaction import redact
from connector.registry import of_kind

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help=f"Moves every paid {words([s.title for s in of_kind('source')])} order to the store's services, "
                       "exactly once.")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("connector.cli")

F = TypeVar("F", bound=Callable[..., Any])


def guarded(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ConfigError, BadInput) as exc:
            err.print(f"error: {redact(exc)}", markup=False)
            raise typer.Exit(2) from None
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except (LedgerUnavailable, DatabaseDown) as exc:  # locked, disk full, server down: what to do, in one line
            log.debug("ledger unavailable", exc_info=True)
            err.print(f"error: {exc}", markup=False)
            raise typer.Exit(1) from None
        except Exception as exc:  # the one place an unexpected failure becomes exit 1
            log.debug("unexpected failure", exc_info=True)
            err.print(f"error: unexpected failure: {type(exc).__name__}: {redact(exc)}", markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def settings() -> Settings:
    loaded = config.load()
    logs.setup(loaded.log_level, loaded.log_format)
    return loaded


def parse_date(value: str, option: str) -> datetime:
    """YYYY-MM-DD or ISO 8601; UTC unless it says otherwise."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{option}: expected YYYY-MM-DD or an ISO 8601 time (got {value!r})") from None
    if len(value.strip()) == 10:
        parsed = datetime.combine(parsed.date(), time(0))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def check_name(value: str | None, allowed: tuple[str, ...], option: str) -> str | None:
    if value is not None and value not in allowed:
        raise BadInput(f"{option}: expected one of {', '.join(allowed)} (got {value!r})")
    return value


def require_source(s: Settings) -> None:
    if not s.sources:
        from connector.check import nothing_enabled

        raise BadInput(nothing_enabled("source"))


SOURCE_NAMES, DESTINATION_NAMES = words(SOURCES, "or"), words(DESTINATIONS, "or")
#: what `preview` reads, per source (each source's SPEC says)
PREVIEW_INPUT = "; ".join(f"{s.name}: {s.preview_input}" for s in of_kind("source"))

SourceOpt = Annotated[str | None, typer.Option("--source", help=f"{SOURCE_NAMES} (default: all enabled)")]
DestinationOpt = Annotated[str | None, typer.Option("--destination", help=DESTINATION_NAMES)]


@app.command()
@guarded
def run() -> None:
    """The service: poll each enabled source and deliver what is due until SIGTERM or SIGINT (then exit 0)."""
    from connector.app import App
    from connector.scheduler import Service

    s = settings()
    require_source(s)
    pipeline = App(s)
    try:
        for name in s.destinations:
            if name not in pipeline.destinations:
                log.error("%s is configured but this version has no %s adapter: its orders are not sent", name, name)
        if not pipeline.destinations:
            log.warning("no destination is enabled: orders are recorded in the ledger and sent nowhere")
        code = Service(pipeline).run()
    finally:
        pipeline.close()
    raise typer.Exit(code)


@app.command()
@guarded
def check() -> None:
    """Validate the configuration and read once from each enabled source; never sends an order."""
    from connector.check import run_checks

    findings = run_checks(settings())
    for finding in findings:
        if finding.ok:
            out.print(f"{'warning' if finding.warn else 'ok'} {finding}", markup=False)
        else:
            err.print(f"error: {finding}", markup=False)
    if any(not f.ok for f in findings):
        raise typer.Exit(2)
    out.print("configuration OK")


@app.command()
@guarded
def poll(source: SourceOpt = None) -> None:
    """One poll of the enabled sources and one delivery pass, then exit."""
    from connector.app import App

    check_name(source, SOURCES, "--source")
    s = settings()
    require_source(s)
    if source and source not in s.sources:
        raise BadInput(f"--source: {source} is not enabled (its credentials are not set)")
    pipeline = App(s)
    try:
        reports = pipeline.poll([source] if source else None)
        intake = pipeline.intake.run_due() if pipeline.intake is not None and source in (None, "sopost") else None
        delivered, looked = pipeline.deliver_with_lookups()
    finally:
        pipeline.close()
    for r in reports:
        out.print(f"{r.source} {r.store}: {r.seen} seen, {r.new_orders} new, {r.enqueued} deliveries queued"
                  + _problems(r) + (f" — error: {r.error}" if r.error else ""), markup=False)
    if intake is not None:  # SoPost's webhook events waiting in the inbox, read once
        out.print(f"sopost inbox: {intake.describe()}, {intake.enqueued} deliveries queued"
                  + (f" — error: {intake.stopped}" if intake.stopped else ""), markup=False)
    for (name, store), holder in pipeline.held_elsewhere.items():
        out.print(f"{name} {store}: not polled, another instance ({holder}) holds its poll; this run only delivered",
                  markup=False)
    _print_pass(delivered)
    _print_lookups(looked)
    if any(r.error for r in reports) or delivered.paused or looked.paused or (intake is not None and intake.stopped):
        raise typer.Exit(1)


def _print_lookups(report: Any) -> None:
    """"voyado: 2 member, 1 not_member" and, when paused, the one loud line naming the variable."""
    if report.outcomes:
        out.print("voyado look-ups: " + ", ".join(f"{n} {o}" for o, n in sorted(report.outcomes.items())), markup=False)
    if report.paused:
        err.print(f"PAUSED voyado look-ups: {report.paused}; orders are sent without the membership", markup=False)


def _problems(report: Any) -> str:
    """", 1 malformed, 1 to read again, 1 unreadable row (no order id: logged, not recorded)" — what applies."""
    return ((f", {report.rejected} malformed" if report.rejected else "")
            + (f", {report.unread} to read again (details failed to load)" if report.unread else "")
            + (f", {report.unreadable} unreadable row{'s' if report.unreadable > 1 else ''} "
               "(no order id: logged, not recorded)" if report.unreadable else ""))


def _print_pass(report: Any) -> None:
    by_destination: dict[str, dict[str, int]] = {}
    for (destination, state), count in sorted(report.states.items()):
        by_destination.setdefault(destination, {})[state] = count
    for destination, states in by_destination.items():
        out.print(f"{destination}: " + ", ".join(f"{n} {s}" for s, n in states.items()))
    for destination, why in report.paused.items():
        err.print(f"PAUSED {destination}: {why}", markup=False)


@app.command()
@guarded
def backfill(
    since: Annotated[str | None, typer.Option("--since", help="YYYY-MM-DD or ISO 8601 (UTC unless it says otherwise)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="end of the range, exclusive (default: now)")] = None,
    source: SourceOpt = None,
    destination: DestinationOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would be queued; write nothing, send nothing")] = False,
    ids: Annotated[str | None, typer.Option(
        "--ids", help="--source sopost: a file of order ids, one a line (a SoPost export), whose events were missed")] = None,
) -> None:
    """Historical orders by creation date into the ledger, then delivered. Resumable."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from connector.app import App
    from connector.backfilling import backfill_all

    check_name(source, SOURCES, "--source")
    check_name(destination, DESTINATIONS, "--destination")
    if ids is not None or source == "sopost":
        from connector.sopost_backfill import backfill_ids

        if ids is None or source != "sopost" or since or until or dry_run:
            raise BadInput("--ids FILE goes with --source sopost, without --since, --until or --dry-run "
                           "(SoPost orders are read by id)")
        backfill_ids(settings(), ids, out, err)
        return
    if since is None:
        raise BadInput("--since: required (YYYY-MM-DD or an ISO 8601 time)")
    start, end = parse_date(since, "--since"), parse_date(until, "--until") if until else None
    if end is not None and end <= start:
        raise BadInput("--until: must be after --since")
    s = settings()
    if destination and destination not in s.destinations:
        raise BadInput(f"--destination: {destination} is not enabled (its credentials are not set)")
    pipeline = App(s)
    targets = [destination] if destination else list(pipeline.destinations)
    chosen = [src for name, src in pipeline.sources.items() if not source or name == source]
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[at]}"),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=False) as progress:
            tasks = {src.name: progress.add_task(f"{src.name} orders", total=None, at="") for src in chosen}
            # with look-ups on, the deliveries follow the reading, beside the look-ups they wait for
            deliver = not dry_run and bool(pipeline.destinations) and pipeline.looker is None
            deliveries = progress.add_task("delivering", total=None, at="") if deliver else None

            def advance(src: Any, seen: int, newest: datetime | None) -> None:
                progress.update(tasks[src.name], advance=seen,
                                at=f"created up to {newest:%Y-%m-%d %H:%M}" if newest else "")

            def expect(src: Any, estimate: Any) -> None:
                progress.update(tasks[src.name], total=estimate.orders,
                                description=f"{src.name} orders" + (f" ({estimate.expected})" if estimate.expected else ""))
                progress.console.print(f"{src.name}: {estimate.describe()}", markup=False)

            def delivered_one(_destination: str, _state: str) -> None:
                if deliveries is not None:
                    progress.advance(deliveries)

            # every store read at once, delivering while reading (`connector.backfilling`)
            reports, result = backfill_all(pipeline.ledger, chosen, targets, pipeline.deliverer if deliver else None,
                                           since=start, until=end, dry_run=dry_run, on_page=advance,
                                           on_estimate=expect, on_outcome=delivered_one)
            for src, report in zip(chosen, reports, strict=True):
                progress.update(tasks[src.name], total=progress.tasks[tasks[src.name]].completed)
                verb = "would queue" if dry_run else "queued"
                out.print(f"{src.name} {report.store}: {report.seen} orders read, {verb} {report.enqueued} deliveries"
                          + _problems(report)
                          + (f" — stopped: {report.error} (run again to resume)" if report.error else ""), markup=False)
            if deliveries is not None:
                progress.update(deliveries, total=progress.tasks[deliveries].completed)
            looked = None
            if not dry_run and pipeline.looker is not None:  # what waited for the look-ups, delivered beside them
                lookups = _expect_lookups(pipeline, progress)
                if pipeline.destinations:
                    deliveries = progress.add_task("delivering", total=_due_count(pipeline, targets), at="")
                result, looked = pipeline.deliver_with_lookups(
                    on_answer=lambda _o: progress.advance(lookups),
                    on_outcome=lambda _d, _s: progress.advance(deliveries) if deliveries is not None else None)
        if result is not None:
            _print_pass(result)
        if looked is not None:
            _print_lookups(looked)
        if any(report.error for report in reports):
            raise typer.Exit(1)
    finally:
        pipeline.close()


def _expect_lookups(pipeline: Any, progress: Any) -> Any:
    """The look-ups' progress bar, and their expected duration under VOYADO_RATE (printed once)."""
    from connector.formats import duration
    from connector.lookups import store, voyado

    settings = pipeline.settings.voyado
    count = store.due(pipeline.ledger, voyado.SPEC.name)
    progress.console.print(
        f"voyado: {count} look-ups to make, about {duration(settings.seconds_for(count))} at VOYADO_RATE="
        f"{settings.rate:g}/s with a burst of {settings.burst} (the bucket alone, {voyado.BUCKET_SIZE} refilled "
        f"{voyado.BUCKET_REFILL:g}/s, allows no less than {duration(max(0, count - voyado.BUCKET_SIZE) / voyado.BUCKET_REFILL)})"
        f"; deliveries that carry the membership wait for it {duration(settings.wait)} at most (VOYADO_WAIT)",
        markup=False)
    return progress.add_task("looking up", total=count, at="")


def _due_count(pipeline: Any, destinations: list[str]) -> int:
    counts = pipeline.ledger.counts()
    return sum(counts.get(d, {}).get(state, 0) for d in destinations for state in ("pending", "retrying"))


@app.command()
@guarded
def status(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Per destination: counts by state, oldest undelivered, last error; cursors and last poll per source."""
    from connector.status import collect, render

    report = collect(settings())
    if as_json:
        out.print_json(json.dumps(report, default=str))
    else:
        render(report, out)


@app.command()
@guarded
def show(
    order: Annotated[str, typer.Argument(help="platform order id or number")],
    source: SourceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """One order's whole story: its key facts and, per destination, the state, attempts and every answer."""
    from connector import inbox_view
    from connector.ledger import Ledger
    from connector.show import collect, render

    check_name(source, SOURCES, "--source")
    ledger = Ledger(settings().database_url)
    try:
        orders = collect(ledger, order.strip(), source)
        events = inbox_view.events(ledger, order.strip(), source)  # a webhook source's events about it (SoPost)
    finally:
        ledger.close()
    if not orders and not events:
        raise BadInput(f"order {order} is not in the ledger" + (f" for {source}" if source else "")
                       + " (not read yet, or not in the configured statuses: see `connector status`)")
    if as_json:
        out.print_json(json.dumps([*orders, *([{"inbox_events": events}] if events else [])], default=str))
    else:
        render(orders, out)
        inbox_view.render_events(events, out)


@app.command()
@guarded
def retry(
    destination: DestinationOpt = None,
    order: Annotated[str | None, typer.Option("--order", help="platform order id")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="also re-queue dead deliveries")] = False,
) -> None:
    """Re-queue failed (retrying) deliveries now; with --dead, dead ones too."""
    from connector.ledger import Ledger

    check_name(destination, DESTINATIONS, "--destination")
    ledger = Ledger(settings().database_url)
    try:
        count = ledger.requeue(destination=destination, order_id=order, dead=dead)
    finally:
        ledger.close()
    out.print(f"re-queued {count} deliveries; the next `poll` or the running service sends them")


@app.command()
@guarded
def preview(
    file: Annotated[str, typer.Argument(help=f"platform order JSON file, or - for standard input ({PREVIEW_INPUT})")],
    source: Annotated[str, typer.Option("--source", help=SOURCE_NAMES)],
    destination: Annotated[str, typer.Option("--destination", help=DESTINATION_NAMES)],
    any_status: Annotated[bool, typer.Option("--any-status", help="also for a status poll would not send")] = False,
    loyalty: Annotated[str | None, typer.Option("--loyalty", help="a Voyado contact-details answer (JSON file) "
                                                "to show the payload with the customer's membership")] = None,
) -> None:
    """Print the payload that would be sent for one platform order (no network)."""
    from connector.preview import render_payload

    check_name(source, SOURCES, "--source")
    check_name(destination, DESTINATIONS, "--destination")
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{file}: {exc.strerror}") from None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise BadInput(f"{file}: not JSON ({exc})") from None
    membership = None
    if loyalty is not None:
        from connector.lookups.voyado import answer_file

        try:
            membership = answer_file(json.loads(Path(loyalty).read_text(encoding="utf-8")))
        except OSError as exc:
            raise BadInput(f"--loyalty {loyalty}: {exc.strerror}") from None
        except ValueError as exc:
            raise BadInput(f"--loyalty {loyalty}: {exc}") from None
    payload = render_payload(raw, source, destination, config.load(), any_status=any_status, loyalty=membership)
    sys.stdout.write(wire.dumps(payload, indent=2) + "\n")


webhooks = typer.Typer(no_args_is_help=True, help="Webhooks that point at this service (SoPost).")
app.add_typer(webhooks, name="webhooks")


@webhooks.command("register")
@guarded
def webhooks_register(
    url: Annotated[str, typer.Option("--url", help="the public https:// URL of POST /webhooks/sopost/<SOPOST_WEBHOOK_SECRET> "
                                                   "(through the reverse proxy)")],
    source: Annotated[str, typer.Option("--source", help="sopost")] = "sopost",
    campaign: Annotated[str | None, typer.Option("--campaign", help="one campaign's UUID instead of the whole "
                                                                    "organisation (SOPOST_ORGANISATION_ID)")] = None,
) -> None:
    """Create the SoPost webhook (OrderEvent) that points at this service; prints its id."""
    from connector.sopost_backfill import register

    if source != "sopost":
        raise BadInput(f"--source: only sopost sends webhooks (got {source!r})")
    hook = register(settings(), url, campaign)
    out.print(f"webhook {hook.get('id') or '(no id given)'} created: OrderEvent for "
              f"{hook.get('entity_type', '?')} {hook.get('entity_id', '?')}", markup=False)


@app.command()
@guarded
def demo(
    orders: Annotated[int, typer.Option("--orders", help="orders in the simulated store")] = 36,
) -> None:
    """The whole pipeline against the built-in sandbox on 127.0.0.1; no credentials needed."""
    from connector.demo import run_demo

    logs.setup("WARNING", "text")
    run_demo(out, orders=orders)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
