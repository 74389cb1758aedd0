"""Deliveries per second with 1, 2 and 4 `connector run` instances on one ledger (SQLite, PostgreSQL).

    .venv/bin/python bench/instances.py --orders 1000 --latency 0.05 --instances 1 2 4 --backends sqlite postgresql

Each run: a fresh ledger (a SQLite file, or a new schema on the PostgreSQL server at TEST_POSTGRES_URL /
--postgres), the sonarID sandbox in this process answering each request after `latency` seconds, and
`instances` real `python -m connector run` subprocesses (CONNECTOR_CONCURRENCY each, an empty WooCommerce
sandbox as their source). Once every instance has started, N orders are queued in the ledger in one
transaction; the clock runs from that commit until sonarID has accepted all N.

CPU per delivery: the instances' user+system time over that same stretch (psutil), divided by N; the
sandbox's is not in it. SQLite works inside the instances, so its cost is in that figure; PostgreSQL's
server side is shown apart (the backends serving the instances' connections, found by application_name).
Every run checks that each order was accepted exactly once. Instances run a delivery pass at least every
second (CONNECTOR_POLL_INTERVAL=1), so up to a second of the wall time is the wait for the next pass.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psutil
from sqlalchemy import create_engine, text

from connector.ledger import Ledger
from connector.orders import Address, Order
from connector.sandbox import SonarIDSandbox, WooCommerceSandbox
from connector.sandbox.demo import SONARID_KEY, WC_KEY, WC_SECRET, sandbox_env

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
LIMIT = 600.0  # seconds any wait may take before the run is called failed


@dataclass
class Result:
    backend: str
    instances: int
    orders: int
    seconds: float
    cpu: float  # the instances' user+system seconds while delivering
    server_cpu: float | None  # PostgreSQL: its backends' for the instances' connections, over the same stretch
    duplicates: int
    load: float

    @property
    def rate(self) -> float:
        return self.orders / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.orders

    @property
    def server_ms(self) -> str:
        return "-" if self.server_cpu is None else f"{1000 * self.server_cpu / self.orders:.1f} ms"


def orders(count: int) -> list[Order]:
    now = datetime.now(UTC)
    return [Order(source="woocommerce", store="bench", id=str(i), number=str(i), status="processing",
                  created_at=now, modified_at=now, currency="USD", total=Decimal("19.99"), subtotal=Decimal("19.99"),
                  billing=Address(first_name="Bench", last_name=f"Customer{i}", email=f"c{i}@example.com",
                                  city="Austin", state="TX", postcode="78701", country="US"))
            for i in range(1, count + 1)]


@contextmanager
def ledger_url(backend: str, tmp: Path, server: str, schema: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{server}?options=-csearch_path%3D{schema}&application_name={schema}"  # its backends, by name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def wait(condition: object, what: str, every: float = 0.01) -> None:
    end = time.monotonic() + LIMIT
    while not condition():  # type: ignore[operator]
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(every)


def cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system + times.children_user + times.children_system
    return total


def backends_cpu(server: str, name: str) -> dict[int, float]:
    """user+system seconds of each PostgreSQL backend serving a connection called `name` (root reads them)."""
    engine = create_engine(server)
    try:
        with engine.connect() as connection:
            pids = connection.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"),
                                      {"n": name}).scalars().all()
    finally:
        engine.dispose()
    found = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found[pid] = times.user + times.system
    return found


def run(backend: str, instances: int, count: int, latency: float, concurrency: int, server: str) -> Result:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with (tempfile.TemporaryDirectory() as tmp_name, WooCommerceSandbox(WC_KEY, WC_SECRET) as wc,
          SonarIDSandbox(SONARID_KEY) as sonarid, ledger_url(backend, Path(tmp_name), server, schema) as url):
        tmp = Path(tmp_name)
        sonarid.faults.add("slow", delay=latency, times=count * 10)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("WOOCOMMERCE_", "BIGCOMMERCE_", "SONARID_", "ORDERPROTECTION_", "SOPHIO_", "CONNECTOR_",
                                    "NOTIFY_SOCKET", "WATCHDOG_"))}
        env.update(sandbox_env(wc, sonarid, tmp / "unused.db"), CONNECTOR_DATABASE_URL=url,
                   CONNECTOR_ENV_FILE=str(tmp / "absent.env"), CONNECTOR_POLL_INTERVAL="1",
                   CONNECTOR_CONCURRENCY=str(concurrency), CONNECTOR_RETRY_BASE="0")
        ledger = Ledger(url)  # the schema, before the instances start
        logs = [tmp / f"run-{i}.log" for i in range(instances)]
        processes = []
        for log in logs:
            with log.open("wb") as out:
                processes.append(subprocess.Popen([sys.executable, "-m", "connector", "run"], cwd=tmp, env=env,
                                                  stdout=out, stderr=subprocess.STDOUT))
        try:
            for process, log in zip(processes, logs, strict=True):
                wait(lambda log=log, process=process: "service started" in log.read_text() or process.poll() is not None,
                     "an instance to start")
                if process.poll() is not None:
                    raise SystemExit(f"an instance stopped at start-up:\n{log.read_text()[-3000:]}")
            watched = [psutil.Process(p.pid) for p in processes]
            load = os.getloadavg()[0]
            queued = orders(count)
            postgresql = backend == "postgresql"
            server_before = backends_cpu(server, schema) if postgresql else {}
            cpu_before = cpu(watched)
            started = time.perf_counter()
            ledger.enqueue("woocommerce", "bench", queued, ["sonarid"])
            wait(lambda: len(sonarid.submissions) >= count, f"{count} deliveries")
            elapsed = time.perf_counter() - started
            spent = cpu(watched) - cpu_before
            server_after = backends_cpu(server, schema) if postgresql else {}
            server_spent = sum(after - server_before.get(pid, 0.0) for pid, after in server_after.items()) \
                if postgresql else None
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            codes = [process.wait(timeout=LIMIT) for process in processes]
            ledger.close()
        if codes != [0] * instances:
            raise SystemExit(f"an instance exited with {codes}:\n{logs[0].read_text()[-3000:]}")
        accepted = Counter(body["order"]["id"] for body in sonarid.submissions)
        assert set(accepted) == {f"wc_{i}" for i in range(1, count + 1)}, "an order was not delivered"
        return Result(backend, instances, count, elapsed, spent, server_spent, sum(n - 1 for n in accepted.values()), load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds sonarID waits before each answer")
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--backends", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--concurrency", type=int, default=4, help="CONNECTOR_CONCURRENCY of each instance")
    parser.add_argument("--postgres", default=POSTGRES, help="the PostgreSQL server (a schema is made per run)")
    args = parser.parse_args()
    print(f"{args.orders} orders, sonarID answers after {args.latency * 1000:.0f} ms, CONNECTOR_CONCURRENCY="
          f"{args.concurrency} per instance; {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("| ledger | instances | wall time | deliveries/s | connector CPU per delivery | PostgreSQL server CPU per delivery "
          "| duplicates | load avg (1 min) |")
    print("|---|---|---|---|---|---|---|---|")
    for backend in args.backends:
        for instances in args.instances:
            r = run(backend, instances, args.orders, args.latency, args.concurrency, args.postgres)
            print(f"| {r.backend} | {r.instances} | {r.seconds:.1f} s | {r.rate:.0f} | {r.cpu_ms:.1f} ms | {r.server_ms} | "
                  f"{r.duplicates} | {r.load:.1f} |", flush=True)


if __name__ == "__main__":
    main()
