"""Backfill throughput: `connector backfill` against the sandbox vs a minimal httpx client replaying its requests.

    .venv/bin/python bench/throughput.py --orders 2000                 # the floor comparison, CPU per delivery
    .venv/bin/python bench/throughput.py --orders 2000 --latency 0.05  # 50 ms answers vs a sequential client
    .venv/bin/python bench/throughput.py --rss 1000 10000              # peak RSS at two sizes ten times apart

Both platforms (WooCommerce and BigCommerce, half the orders each, BigCommerce without a quota) and the
three destinations (sonarID, OrderProtection, Sophio) run as sandbox servers in this process on 127.0.0.1;
`python -m connector backfill` runs as a child process with a fresh SQLite ledger. Every request the
sandbox servers receive is recorded (method, path and query, headers, body, when it started and ended)
with the number of requests in flight at that server, so the replay knows the connector's concurrency.

The replay sends exactly the same requests to a fresh, identical set of servers (single-use nonces,
destinations that deduplicate) with a bare `httpx.Client`: per phase (reading = the stores, delivering =
the destinations), every server's requests in their recorded order from as many threads as the connector
had in flight at that server at most (a destination at least CONNECTOR_CONCURRENCY's default, 4, the
concurrency the connector is configured with), all servers of the phase at once. Its wall time is the floor a
program making those requests at that concurrency cannot beat.

CPU and memory are the child's own accounting: `os.wait4`'s ru_utime + ru_stime, and the peak RSS as the
child's /proc/self/status VmHWM says it at exit (ru_maxrss would include this process's size: Linux
keeps the high-water mark of the forked copy across exec).
With `--latency` every answer waits that long first; the sequential client replays every request one
after another (reading then delivering).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from connector.sandbox import (
    BigCommerceSandbox,
    OrderProtectionSandbox,
    SandboxServer,
    SonarIDSandbox,
    SophioSandbox,
    WooCommerceSandbox,
    sample_bigcommerce_orders,
    sample_woocommerce_orders,
)
from connector.sandbox.demo import BC_HASH, BC_TOKEN, SONARID_KEY, WC_KEY, WC_SECRET, orderprotection_env, sandbox_env, sophio_env
from connector.sandbox.server import RecordedRequest, Response

ROOT = Path(__file__).resolve().parents[1]
SKIP_HEADERS = {"host", "content-length", "connection", "transfer-encoding"}


@dataclass
class Hit:
    server: str
    request: RecordedRequest
    started: float
    ended: float = 0.0
    status: int = 0


@dataclass
class Recorder:
    """Wraps every sandbox's handler: what came in, when, and how many were in flight per server."""

    latency: float = 0.0
    hits: list[Hit] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    peak: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)
    names: dict[int, str] = field(default_factory=dict)
    recording: bool = True

    def install(self) -> None:
        original = SandboxServer._safe_handle
        recorder = self

        def handle(server: SandboxServer, request: RecordedRequest) -> Response:
            name = recorder.names.get(id(server), type(server).__name__)
            hit = Hit(name, request, time.perf_counter())
            with recorder.lock:
                recorder.in_flight[name] += 1
                recorder.peak[name] = max(recorder.peak[name], recorder.in_flight[name])
            try:
                if recorder.latency:
                    time.sleep(recorder.latency)
                response = original(server, request)
                hit.status = response.status
                return response
            finally:
                hit.ended = time.perf_counter()
                with recorder.lock:
                    recorder.in_flight[name] -= 1
                    if recorder.recording:
                        recorder.hits.append(hit)

        SandboxServer._safe_handle = handle  # type: ignore[method-assign]

    def reset(self) -> None:
        with self.lock:
            self.hits.clear()
            self.peak.clear()


SOURCES = ("woocommerce", "bigcommerce")
DESTINATIONS = ("sonarid", "orderprotection", "sophio")
CONCURRENCY = 4  # CONNECTOR_CONCURRENCY (its default; --concurrency): the replay gives each destination at least this


@contextlib.contextmanager
def stack(orders: int, now: datetime, recorder: Recorder) -> Iterator[dict[str, SandboxServer]]:
    """The five sandbox servers, the stores holding `orders` between them (the same for the same `now`)."""
    wc_orders, bc_orders = orders - orders // 2, orders // 2
    servers: dict[str, SandboxServer] = {
        "woocommerce": WooCommerceSandbox(WC_KEY, WC_SECRET, orders=sample_woocommerce_orders(wc_orders, seed=3, now=now)),
        "bigcommerce": BigCommerceSandbox(BC_HASH, BC_TOKEN, quota=None),
        "sonarid": SonarIDSandbox(SONARID_KEY),
        "orderprotection": OrderProtectionSandbox(),
        "sophio": SophioSandbox(),
    }
    bc = servers["bigcommerce"]
    assert isinstance(bc, BigCommerceSandbox)
    for order in sample_bigcommerce_orders(bc_orders, seed=4, now=now):
        bc.add_order(order)
    with contextlib.ExitStack() as stack_:
        for name, server in servers.items():
            recorder.names[id(server)] = name
            stack_.enter_context(server)
        yield servers


def environment(servers: dict[str, SandboxServer], database: Path, tmp: Path) -> dict[str, str]:
    wc, bc, sonarid = servers["woocommerce"], servers["bigcommerce"], servers["sonarid"]
    assert isinstance(wc, WooCommerceSandbox) and isinstance(bc, BigCommerceSandbox) and isinstance(sonarid, SonarIDSandbox)
    op, sophio = servers["orderprotection"], servers["sophio"]
    assert isinstance(op, OrderProtectionSandbox) and isinstance(sophio, SophioSandbox)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("WOOCOMMERCE_", "BIGCOMMERCE_", "SONARID_", "ORDERPROTECTION_", "SOPHIO_", "CONNECTOR_"))}
    return {**base, **sandbox_env(wc, sonarid, database, bc), **orderprotection_env(op), **sophio_env(sophio),
            "CONNECTOR_ENV_FILE": str(tmp / "none.env"), "CONNECTOR_LOG_LEVEL": "WARNING", "COLUMNS": "120",
            "CONNECTOR_CONCURRENCY": str(CONCURRENCY), **({"PYTHONPATH": CODE} if CODE else {})}


@dataclass
class Child:
    wall: float
    cpu: float
    maxrss_mb: float
    code: int
    out: str


CODE: str | None = None  # --code: the connector package the child runs (a checkout of another commit)
PROFILE: str | None = None  # --profile: the child runs under `py-spy record` (collapsed stacks to this file)


#: `python -m connector` that writes its own peak RSS (VmHWM) to $BENCH_HWM at exit. Not `ru_maxrss`: Linux
#: carries the high-water mark across exec, so a child's ru_maxrss starts at this (large) process's size
LAUNCH = """
import atexit, os, runpy, sys
def hwm():
    with open("/proc/self/status") as status, open(os.environ["BENCH_HWM"], "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM")))
atexit.register(hwm)
sys.argv = ["connector", *sys.argv[1:]]
runpy.run_module("connector", run_name="__main__", alter_sys=True)
"""


def run_child(args: list[str], env: dict[str, str], cwd: Path) -> Child:
    out_path, err_path = cwd / "child.out", cwd / "child.err"
    hwm_path = cwd / "child.hwm"
    env = {**env, "BENCH_HWM": str(hwm_path)}
    command = [sys.executable, "-c", LAUNCH, *args]
    if PROFILE:
        spy = str(Path(sys.executable).with_name("py-spy"))
        command = [spy, "record", "--format", "raw", "-r", "50", "-o", PROFILE, "--", *command]
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text() + err_path.read_text()
    peak = int(hwm_path.read_text()) / 1024 if hwm_path.exists() else usage.ru_maxrss / 1024  # py-spy: its rusage
    return Child(wall, usage.ru_utime + usage.ru_stime, peak, process.returncode, text)


def backfill(servers: dict[str, SandboxServer], latency: float, tmp: Path, recorder: Recorder,
             now: datetime) -> tuple[Child, list[Hit], dict[str, int]]:
    recorder.latency = latency
    recorder.reset()
    since = (now - timedelta(days=5)).date().isoformat()
    child = run_child(["backfill", "--since", since], environment(servers, tmp / "connector.db", tmp), tmp)
    if child.code != 0:
        raise SystemExit(f"backfill exited {child.code}:\n{child.out[-3000:]}")
    return child, list(recorder.hits), dict(recorder.peak)


def dry_run_cpu(servers: dict[str, SandboxServer], tmp: Path, recorder: Recorder, now: datetime) -> Child:
    """`backfill --dry-run` of the same stores: the reading alone (no ledger writes, nothing sent)."""
    recorder.latency = 0.0
    recording, recorder.recording = recorder.recording, False
    wc = servers["woocommerce"]
    assert isinstance(wc, WooCommerceSandbox)
    since = (now - timedelta(days=5)).date().isoformat()
    child = run_child(["backfill", "--since", since, "--dry-run"], environment(servers, tmp / "dry.db", tmp), tmp)
    wc.auth._nonces.clear()
    recorder.recording = recording
    if child.code != 0:
        raise SystemExit(f"backfill --dry-run exited {child.code}:\n{child.out[-3000:]}")
    return child


def again(original: dict[str, SandboxServer], fresh: dict[str, SandboxServer]) -> dict[str, SandboxServer]:
    """Where the replay goes: fresh servers, but the same WooCommerce store (its OAuth signature covers the port;
    its GETs change nothing), its used nonces forgotten."""
    wc = original["woocommerce"]
    assert isinstance(wc, WooCommerceSandbox)
    wc.auth._nonces.clear()
    return {**fresh, "woocommerce": wc}


def span(hits: list[Hit]) -> float:
    return max(h.ended for h in hits) - min(h.started for h in hits) if hits else 0.0


def replay(hits: list[Hit], servers: dict[str, SandboxServer], workers: dict[str, int]) -> tuple[float, int]:
    """Send `hits` again to `servers`, each server's in order from `workers[server]` threads, all servers at once.
    Returns the wall time and how many answers differ in status from the connector's."""
    by_server: dict[str, list[Hit]] = defaultdict(list)
    for hit in sorted(hits, key=lambda h: h.started):
        by_server[hit.server].append(hit)
    total = sum(max(1, workers.get(s, 1)) for s in by_server)
    differ = 0
    lock = threading.Lock()
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=total + 4, max_keepalive_connections=total + 4)) as client:

        def send(hit: Hit) -> None:
            nonlocal differ
            request = hit.request
            url = servers[hit.server].url + request.path + (f"?{request.raw_query}" if request.raw_query else "")
            headers = {k: v for k, v in request.headers.items() if k not in SKIP_HEADERS}
            response = client.request(request.method, url, headers=headers, content=request.body or None)
            response.read()
            if response.status_code != hit.status:
                with lock:
                    differ += 1

        started = time.perf_counter()
        pools = [ThreadPoolExecutor(max_workers=max(1, workers.get(s, 1))) for s in by_server]
        futures = [pool.submit(send, hit) for pool, s in zip(pools, by_server, strict=True) for hit in by_server[s]]
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - started
        for pool in pools:
            pool.shutdown()
    return elapsed, differ


def compare(orders: int, latency: float) -> None:
    recorder = Recorder()
    recorder.install()
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with stack(orders, now, recorder) as servers:
            dry = dry_run_cpu(servers, tmp, recorder, now)
            child, hits, peak = backfill(servers, latency, tmp, recorder, now)
            reading = [h for h in hits if h.server in SOURCES]
            delivering = [h for h in hits if h.server in DESTINATIONS]
            recorder.recording = False
            workers = {**peak, **{d: max(CONCURRENCY, peak.get(d, 0)) for d in DESTINATIONS}}
            with stack(orders, now, recorder) as fresh:
                read_floor, read_differ = replay(reading, again(servers, fresh), workers)
                deliver_floor, deliver_differ = replay(delivering, again(servers, fresh), workers)
            sequential = None
            if latency:
                with stack(orders, now, recorder) as fresh:
                    sequential = sum(replay(phase, again(servers, fresh), {})[0] for phase in (reading, delivering))
    listed_wc = sum(1 for h in reading if h.server == "woocommerce")
    print(f"# {orders} orders (both platforms), three destinations, CONNECTOR_CONCURRENCY={CONCURRENCY}, "
          f"answers after {latency * 1000:.0f} ms; "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(f"requests: {len(reading)} reading ({listed_wc} WooCommerce, {len(reading) - listed_wc} BigCommerce), "
          f"{len(delivering)} delivering; replay answers differing in status: {read_differ + deliver_differ}")
    print("peak in flight per server: " + ", ".join(f"{s} {peak.get(s, 0)}" for s in (*SOURCES, *DESTINATIONS)))
    read_span, deliver_span, http_span = span(reading), span(delivering), span(hits)
    floor = read_floor + deliver_floor
    print("| figure | connector | replay (floor) | ratio |")
    print("|---|---|---|---|")
    print(f"| reading (first to last store request) | {read_span:.2f} s | {read_floor:.2f} s | {read_span / read_floor:.2f}× |")
    print(f"| delivering (first to last destination request) | {deliver_span:.2f} s | {deliver_floor:.2f} s | "
          f"{deliver_span / deliver_floor:.2f}× |")
    print(f"| first to last request | {http_span:.2f} s | {floor:.2f} s (reading + delivering) | {http_span / floor:.2f}× |")
    print(f"| process wall time (start-up included) | {child.wall:.2f} s | {floor:.2f} s | {child.wall / floor:.2f}× |")
    print(f"CPU: {child.cpu:.2f} s in the connector process: {child.cpu / max(1, len(delivering)) * 1000:.2f} ms per "
          f"delivery request ({len(delivering)}), all of it counted; a --dry-run of the same stores (reading alone, "
          f"start-up included) {dry.cpu:.2f} s, so {(child.cpu - dry.cpu) / max(1, len(delivering)) * 1000:.2f} ms per "
          f"delivery for recording and delivering; peak RSS {child.maxrss_mb:.0f} MB")
    if sequential is not None:
        print(f"sequential client (every request one after another): {sequential:.2f} s; connector speed-up over it: "
              f"{sequential / child.wall:.2f}× (wall time, start-up included), {sequential / http_span:.2f}× "
              "(first to last request)")


def rss(sizes: list[int]) -> None:
    recorder = Recorder()
    recorder.install()
    recorder.recording = False
    now = datetime.now(UTC).replace(microsecond=0)
    print("| orders | deliveries | wall time | CPU | CPU per delivery | peak RSS |")
    print("|---|---|---|---|---|---|")
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp_name, stack(size, now, recorder) as servers:
            recorder.recording = True
            child, hits, _ = backfill(servers, 0.0, Path(tmp_name), recorder, now)
            recorder.recording = False
            deliveries = sum(1 for h in hits if h.server in DESTINATIONS)
            recorder.reset()
        print(f"| {size:,} | {deliveries:,} | {child.wall:.1f} s | {child.cpu:.1f} s | "
              f"{child.cpu / max(1, deliveries) * 1000:.2f} ms | {child.maxrss_mb:.0f} MB |", flush=True)


def quiet_poll(times: int = 5) -> None:
    """CPU of a `poll` that finds nothing new (both stores, three destinations, the ledger up to date) against
    `--help` (the interpreter and the command line), each the median of `times` runs."""
    recorder = Recorder()
    recorder.install()
    recorder.recording = False
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp_name, stack(0, now, recorder) as servers:
        tmp = Path(tmp_name)
        env = environment(servers, tmp / "connector.db", tmp)
        first = run_child(["poll"], env, tmp)
        if first.code != 0:
            raise SystemExit(f"poll exited {first.code}:\n{first.out[-2000:]}")
        polls = sorted(run_child(["poll"], env, tmp).cpu for _ in range(times))
        helps = sorted(run_child(["--help"], env, tmp).cpu for _ in range(times))
        recorder.recording = True
        recorder.reset()
        run_child(["poll"], env, tmp)
        wc_requests = [h.request.method for h in recorder.hits if h.server == "woocommerce"]
    poll_cpu, help_cpu = polls[times // 2], helps[times // 2]
    print(f"quiet poll: {poll_cpu * 1000:.0f} ms CPU, --help {help_cpu * 1000:.0f} ms: {(poll_cpu - help_cpu) * 1000:.0f} ms "
          f"beyond start-up (medians of {times}); WooCommerce requests per quiet poll: {len(wc_requests)} "
          f"({', '.join(wc_requests)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000, help="orders in the two stores together")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds every sandbox waits before answering")
    parser.add_argument("--rss", type=int, nargs="+", metavar="ORDERS", help="only peak RSS (and CPU) at these sizes")
    parser.add_argument("--concurrency", type=int, default=4, help="CONNECTOR_CONCURRENCY for the connector (and "
                        "the least the replay gives each destination)")
    parser.add_argument("--quiet-poll", action="store_true", help="only the CPU of a poll that finds nothing new")
    parser.add_argument("--profile", metavar="FILE", help="run the child under py-spy (pip install py-spy): "
                        "collapsed stacks (CPU only, not idle threads) to FILE; the figures then include py-spy's cost")
    parser.add_argument("--code", metavar="DIR", help="run the connector from this checkout (PYTHONPATH), e.g. a "
                        "`git worktree` of main for the before figures; the sandbox stays this one")
    args: Any = parser.parse_args()
    global CODE, PROFILE, CONCURRENCY  # noqa: PLW0603 - a script's settings
    CONCURRENCY = args.concurrency
    PROFILE, CODE = args.profile, args.code and str(Path(args.code).resolve())
    if args.quiet_poll:
        quiet_poll()
    elif args.rss:
        rss(args.rss)
    else:
        compare(args.orders, args.latency)


if __name__ == "__main__":
    main()
