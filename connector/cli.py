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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

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
        delivered, looked = pipeline.deliver_with_lookups()
    finally:
        pipeline.close()
    for r in reports:
        out.print(f"{r.source} {r.store}: {r.seen} seen, {r.new_orders} new, {r.enqueued} deliveries queued"
                  + _problems(r) + (f" — error: {r.error}" if r.error else ""), markup=False)
    for (name, store), holder in pipeline.held_elsewhere.items():
        out.print(f"{name} {store}: not polled, another instance ({holder}) holds its poll; this run only delivered",
                  markup=False)
    _print_pass(delivered)
    _print_lookups(looked)
    if any(r.error for r in reports) or delivered.paused or looked.paused:
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
    since: Annotated[str, typer.Option("--since", help="YYYY-MM-DD or ISO 8601 (UTC unless it says otherwise)")],
    until: Annotated[str | None, typer.Option("--until", help="end of the range, exclusive (default: now)")] = None,
    source: SourceOpt = None,
    destination: DestinationOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would be queued; write nothing, send nothing")] = False,
) -> None:
    """Historical orders by creation date into the ledger, then delivered. Resumable."""
    from connector.app import App
    from connector.polling import backfill as run_backfill

    check_name(source, SOURCES, "--source")
    check_name(destination, DESTINATIONS, "--destination")
    start, end = parse_date(since, "--since"), parse_date(until, "--until") if until else None
    if end is not None and end <= start:
        raise BadInput("--until: must be after --since")
    s = settings()
    if destination and destination not in s.destinations:
        raise BadInput(f"--destination: {destination} is not enabled (its credentials are not set)")
    pipeline = App(s)
    targets = [destination] if destination else list(pipeline.destinations)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[at]}"),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=False) as progress:
            for name, src in pipeline.sources.items():
                if source and name != source:
                    continue
                task = progress.add_task(f"{name} orders", total=None, at="")

                def advance(seen: int, newest: datetime | None, task: Any = task) -> None:
                    progress.update(task, advance=seen, at=f"created up to {newest:%Y-%m-%d %H:%M}" if newest else "")

                def expect(estimate: Any, task: Any = task, name: str = name) -> None:
                    progress.update(task, total=estimate.orders,
                                    description=f"{name} orders" + (f" ({estimate.expected})" if estimate.expected else ""))
                    progress.console.print(f"{name}: {estimate.describe()}", markup=False)

                report = run_backfill(pipeline.ledger, src, targets, since=start, until=end, dry_run=dry_run,
                                      on_page=advance, on_estimate=expect)
                progress.update(task, total=progress.tasks[task].completed)
                verb = "would queue" if dry_run else "queued"
                out.print(f"{name} {report.store}: {report.seen} orders read, {verb} {report.enqueued} deliveries"
                          + _problems(report)
                          + (f" — stopped: {report.error} (run again to resume)" if report.error else ""), markup=False)
                if report.error:
                    raise typer.Exit(1)
            looked = None
            if not dry_run and pipeline.looker is not None:
                lookups = _expect_lookups(pipeline, progress)
                if pipeline.destinations:
                    deliveries = progress.add_task("delivering", total=_due_count(pipeline, targets), at="")
                result, looked = pipeline.deliver_with_lookups(
                    on_answer=lambda _o: progress.advance(lookups),
                    on_outcome=lambda _d, _s: progress.advance(deliveries) if pipeline.destinations else None)
            elif not dry_run and pipeline.destinations:
                deliveries = progress.add_task("delivering", total=_due_count(pipeline, targets), at="")
                result = pipeline.deliverer.run_due(on_outcome=lambda _d, _s: progress.advance(deliveries))
        if not dry_run and (pipeline.destinations or looked is not None):
            _print_pass(result)
        if looked is not None:
            _print_lookups(looked)
    finally:
        pipeline.close()


def _expect_lookups(pipeline: Any, progress: Progress) -> Any:
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
    from connector.ledger import Ledger
    from connector.show import collect, render

    check_name(source, SOURCES, "--source")
    ledger = Ledger(settings().database_url)
    try:
        orders = collect(ledger, order.strip(), source)
    finally:
        ledger.close()
    if not orders:
        raise BadInput(f"order {order} is not in the ledger" + (f" for {source}" if source else "")
                       + " (not read yet, or not in the configured statuses: see `connector status`)")
    if as_json:
        out.print_json(json.dumps(orders, default=str))
    else:
        render(orders, out)


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
