"""SoPost webhook → sonarID latency through the running service, and the listener's throughput for duplicates.

    .venv/bin/python bench/sopost_webhook.py [--events 500] [--interval 0.05] [--duplicates 3000] [--clients 8]

`connector run` runs as a subprocess (SQLite ledger in a temporary directory, SoPost and sonarID
sandboxes in this process on 127.0.0.1, both answering at once). Each of `--events` APPROVED orders
(with consent) gets one `OrderEvent` posted to the listener, one every `--interval` seconds; its
latency is from just before the POST to the moment the sonarID sandbox receives the order (one
clock: both ends are in this process). Then `--duplicates` posts of one already-stored event, from
`--clients` threads with keep-alive connections: requests per second, all answered 202 duplicate.
Every run checks that each order reached sonarID exactly once.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from connector.sandbox import SonarIDSandbox, SoPostSandbox, sample_sopost_order
from connector.sandbox.demo import SONARID_KEY, SOPOST_WEBHOOK_SECRET, sandbox_env, sopost_env
from connector.sandbox.server import RecordedRequest


class TimedSonarID(SonarIDSandbox):
    """The sonarID sandbox, noting when each order first arrived."""

    def __init__(self) -> None:
        super().__init__(SONARID_KEY)
        self.arrived: dict[str, float] = {}
        self._times = threading.Lock()

    def _record(self, request: RecordedRequest) -> None:
        now = time.monotonic()
        super()._record(request)
        try:
            key = request.json().get("order", {}).get("id")
        except ValueError:
            return
        with self._times:
            self.arrived.setdefault(key, now)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--duplicates", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-sopost-") as tmp, TimedSonarID() as sonarid, SoPostSandbox() as sopost:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "SOPOST_", "SONARID_",
                                                                            "WOOCOMMERCE_", "BIGCOMMERCE_"))},
               **sandbox_env(None, sonarid, Path(tmp) / "connector.db"), **sopost_env(sopost),
               "CONNECTOR_ENV_FILE": str(Path(tmp) / "none.env")}  # logs at INFO, as the service runs
        log = Path(tmp) / "service.log"
        with log.open("w") as out:
            service = subprocess.Popen([sys.executable, "-m", "connector", "run"], cwd=tmp, env=env, stdout=out,
                                       stderr=subprocess.STDOUT)
        try:
            env_url = None
            deadline = time.monotonic() + 30
            while env_url is None and time.monotonic() < deadline:
                found = re.search(r"listening on (http://\S+) ", log.read_text())
                env_url = found.group(1) if found else None
                time.sleep(0.05)
            if env_url is None:
                raise SystemExit(f"no listener address in the log:\n{log.read_text()}")
            hook = f"{env_url}/webhooks/sopost/{SOPOST_WEBHOOK_SECRET}"
            orders = [sopost.add_order(sample_sopost_order(n)) for n in range(args.events)]
            sent: dict[str, float] = {}
            with httpx.Client(timeout=10) as client:
                client.get(f"{env_url}/healthz")
                for order_id in orders:
                    event = sopost.event(order_id)
                    sent[f"sp_{order_id}"] = time.monotonic()
                    answer = client.post(hook, json=event)
                    assert answer.status_code == 202, answer.text
                    time.sleep(args.interval)
                end = time.monotonic() + 60
                while len(sonarid.arrived) < len(orders) and time.monotonic() < end:
                    time.sleep(0.05)
            latencies = [(sonarid.arrived[key] - at) * 1000 for key, at in sent.items() if key in sonarid.arrived]
            once = all(sonarid.submissions_for(f"sp_{o}") == 1 for o in orders)

            duplicate = sopost.event(orders[0])
            with httpx.Client(timeout=10) as client:
                assert client.post(hook, json=duplicate).status_code == 202
            per_client = args.duplicates // args.clients
            codes: list[int] = []

            def hammer(_: int) -> list[int]:
                with httpx.Client(timeout=10) as client:
                    return [client.post(hook, json=duplicate).status_code for _ in range(per_client)]

            started = time.monotonic()
            with ThreadPoolExecutor(args.clients) as pool:
                for result in pool.map(hammer, range(args.clients)):
                    codes.extend(result)
            elapsed = time.monotonic() - started
        finally:
            service.terminate()
            code = service.wait(timeout=60)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; service exit {code}")
    print(f"webhook -> sonarID, {len(latencies)} of {args.events} orders arrived, each exactly once: {once}; "
          f"one event every {args.interval * 1000:.0f} ms")
    print(f"  median {statistics.median(latencies):.0f} ms, p99 {percentile(latencies, 99):.0f} ms, "
          f"max {max(latencies):.0f} ms, min {min(latencies):.0f} ms")
    print(f"duplicate events: {len(codes)} posts from {args.clients} clients in {elapsed:.2f} s = "
          f"{len(codes) / elapsed:.0f} requests/s; all 202: {set(codes) == {202}}")


if __name__ == "__main__":
    main()
