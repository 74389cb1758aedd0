"""`python -m connector run` as a real subprocess against the sandbox, and `check` against it.

The service runs under the kernel's memory-deny-write-execute switch when the kernel has it
(PR_SET_MDWE, Linux >= 6.3): the restriction MemoryDenyWriteExecute=yes puts on the unit.
Waits are for conditions (with a deadline), never fixed sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.sandbox import SonarIDSandbox, WooCommerceSandbox, sample_woocommerce_orders
from connector.sandbox.demo import SONARID_KEY, WC_KEY, WC_SECRET, sandbox_env
from tests.waiting import wait_for

PAID = ("processing", "completed")
DEADLINE = 20.0  # seconds; every wait returns as soon as its condition holds
FINAL_STATES = ("delivered", "skipped", "dead")

# Sets PR_SET_MDWE (65) with PR_MDWE_REFUSE_EXEC_GAIN (1), which survives execve, then runs Python with
# the given arguments. Kernels without it (before 6.3) refuse the prctl and the service runs unrestricted.
LAUNCHER = """
import ctypes, os, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0)
except (OSError, AttributeError):
    pass
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


class Notifications:
    """A fake systemd: a datagram socket in the abstract namespace, as $NOTIFY_SOCKET."""

    def __init__(self) -> None:
        self.name = f"connector-test-{uuid.uuid4().hex}"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(b"\0" + self.name.encode())
        self.socket.setblocking(False)
        self.messages: list[dict[str, str]] = []

    @property
    def address(self) -> str:
        return "@" + self.name

    def received(self) -> list[dict[str, str]]:
        while True:
            try:
                data = self.socket.recv(4096).decode()
            except BlockingIOError:
                return self.messages
            self.messages.append(dict(line.split("=", 1) for line in data.splitlines()))

    def first(self, key: str) -> int | None:
        return next((i for i, m in enumerate(self.received()) if key in m), None)

    def close(self) -> None:
        self.socket.close()


class Service:
    """The sandbox, a ledger path and `connector` subprocesses pointed at them."""

    def __init__(self, wc: WooCommerceSandbox, sonarid: SonarIDSandbox, tmp: Path) -> None:
        self.wc, self.sonarid, self.tmp = wc, sonarid, tmp
        self.database = tmp / "c.db"
        self.log = tmp / "service.log"
        self.env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("WOOCOMMERCE_", "BIGCOMMERCE_", "SONARID_", "ORDERPROTECTION_", "SOPHIO_",
                                    "CONNECTOR_", "NOTIFY_SOCKET", "WATCHDOG_"))},
            **sandbox_env(wc, sonarid, self.database),
            "CONNECTOR_ENV_FILE": str(tmp / "absent.env"),
            "CONNECTOR_POLL_INTERVAL": "1",
            "CONNECTOR_LOOKBACK": str(4 * 86400),  # the sample orders were created over the last 3 days
            "CONNECTOR_RETRY_BASE": "0",
        }

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            return subprocess.Popen([sys.executable, "-c", LAUNCHER, "-m", "connector", "run"], cwd=self.tmp,
                                    env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT)

    def command(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "connector", *args], cwd=self.tmp, env={**self.env, **env},
                              check=False, capture_output=True, text=True, timeout=60)

    def deliveries(self) -> list[sqlite3.Row]:
        if not self.database.exists():
            return []
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10) as db:
            db.row_factory = sqlite3.Row
            try:
                return db.execute("SELECT * FROM deliveries ORDER BY id").fetchall()
            except sqlite3.OperationalError:  # tables not created yet
                return []

    def states(self) -> dict[str, str]:
        return {row["order_id"]: row["state"] for row in self.deliveries()}

    def paid_ids(self) -> set[str]:
        return {str(order_id) for order_id, order in self.wc.orders.items() if order["status"] in PAID}

    def all_settled(self) -> bool:
        states = self.states()
        return set(states) == self.paid_ids() and all(state in FINAL_STATES for state in states.values())


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with WooCommerceSandbox(WC_KEY, WC_SECRET) as wc, SonarIDSandbox(SONARID_KEY) as sonarid:
        yield Service(wc, sonarid, tmp_path)


@pytest.fixture
def notifications() -> Iterator[Notifications]:
    listener = Notifications()
    yield listener
    listener.close()


def stop(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def fresh(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sample orders as if placed just now: the store gives them new ids and today's dates."""
    dated = ("id", "number", "date_created", "date_created_gmt", "date_modified", "date_modified_gmt")
    return [{k: v for k, v in order.items() if k not in dated} for order in orders]


def test_the_launcher_really_denies_write_execute_memory() -> None:
    probe = "import ctypes; print(ctypes.CDLL(None).prctl(66, 0, 0, 0, 0))"  # PR_GET_MDWE
    supported = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True).stdout.strip()
    if supported == "-1":
        pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3); the service tests run without it")
    launched = subprocess.run([sys.executable, "-c", LAUNCHER, "-c", probe], check=False, capture_output=True, text=True)
    assert launched.stdout.strip() == "1"  # PR_MDWE_REFUSE_EXEC_GAIN, as MemoryDenyWriteExecute=yes


def test_run_delivers_picks_up_new_orders_and_stops_cleanly(service: Service, notifications: Notifications) -> None:
    for order in sample_woocommerce_orders(8, seed=11):
        service.wc.add_order(order)
    process = service.start(NOTIFY_SOCKET=notifications.address, WATCHDOG_USEC="1000000", CONNECTOR_LOG_FORMAT="json")
    try:
        wait_for(lambda: notifications.first("READY") is not None, "READY=1")
        wait_for(service.all_settled, "the first orders to be delivered")
        first = service.paid_ids()

        added = [service.wc.add_order(o) for o in fresh(sample_woocommerce_orders(4, seed=12))]
        new_paid = {str(o["id"]) for o in added if o["status"] in PAID}
        assert new_paid, "the sample should contain a paid order"
        wait_for(lambda: new_paid <= set(service.states()) and service.all_settled(), "the new orders to arrive")
        wait_for(lambda: notifications.first("WATCHDOG") is not None, "a WATCHDOG=1 ping")
    finally:
        code = stop(process)

    assert code == 0, service.log.read_text()[-3000:]
    rows = service.deliveries()
    assert not [r for r in rows if r["state"] == "sending"]
    delivered = {r["order_id"] for r in rows if r["state"] == "delivered"}
    assert delivered & first and delivered & new_paid
    for order_id in delivered:  # sonarID's id is wc_<order id>; each exactly once
        assert service.sonarid.submissions_for(f"wc_{order_id}") == 1

    ready, watchdog, stopping = (notifications.first(k) for k in ("READY", "WATCHDOG", "STOPPING"))
    assert ready is not None and watchdog is not None and stopping is not None
    assert ready < stopping and stopping == len(notifications.received()) - 1, notifications.received()  # the last word

    lines = [json.loads(line) for line in service.log.read_text().splitlines()]
    polls = [e for e in lines if e.get("event") == "poll"]
    assert polls and all({"source", "seen", "enqueued", "cursor"} <= set(e) for e in polls)
    outcomes = {e["order_id"]: e for e in lines if e.get("event") == "delivery" and e["state"] == "delivered"}
    assert set(outcomes) == delivered
    assert all({"source", "destination", "attempt", "duration", "reason"} <= set(e) for e in outcomes.values())
    text = service.log.read_text()
    assert WC_SECRET not in text and WC_KEY not in text and SONARID_KEY not in text


def test_sigterm_lets_requests_in_flight_finish_and_releases_the_rest(service: Service) -> None:
    for order in sample_woocommerce_orders(24, seed=5):
        service.wc.add_order(order)
    service.sonarid.faults.add("slow", times=1000, delay=1.5)  # every submission takes 1.5 s
    process = service.start()
    try:
        wait_for(lambda: service.sonarid.requests, "a first submission in flight")
    finally:
        code = stop(process)

    assert code == 0, service.log.read_text()[-3000:]
    rows = service.deliveries()
    assert not [r for r in rows if r["state"] == "sending"]
    delivered = {r["order_id"] for r in rows if r["state"] == "delivered"}
    received = {body["order"]["id"] for body in service.sonarid.submissions}
    assert delivered and {f"wc_{i}" for i in delivered} == received  # in flight at SIGTERM: finished and recorded
    released = [r for r in rows if r["state"] in ("pending", "retrying")]
    assert released and all(r["attempts"] == 0 for r in released)  # claimed or queued, never sent

    # The next start sends the rest, and nothing twice. SIGINT stops it just as cleanly.
    service.sonarid.faults.clear()
    process = service.start()
    try:
        wait_for(service.all_settled, "the rest to be delivered")
    finally:
        code = stop(process, signal.SIGINT)
    assert code == 0
    for order_id in {r["order_id"] for r in service.deliveries() if r["state"] == "delivered"}:
        assert service.sonarid.submissions_for(f"wc_{order_id}") == 1


def test_check_with_a_good_configuration_exits_0_and_sends_nothing(service: Service) -> None:
    service.wc.add_order(sample_woocommerce_orders(1, seed=3)[0])
    result = service.command("check")
    assert result.returncode == 0, result.stderr
    assert "ok woocommerce" in result.stdout and "ok sonarid" in result.stdout
    assert service.sonarid.requests == []  # destinations are listed, never contacted
    assert all(r.method == "GET" for r in service.wc.requests)


def test_check_with_a_wrong_secret_exits_2_naming_the_variable(service: Service) -> None:
    result = service.command("check", WOOCOMMERCE_CONSUMER_SECRET="cs_wrong_secret")
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(problems) == 1 and "WOOCOMMERCE_CONSUMER_SECRET" in problems[0] and "401" in problems[0]
    assert "cs_wrong_secret" not in result.stdout + result.stderr
    assert service.sonarid.requests == []


def test_check_with_a_wrong_url_names_it(service: Service) -> None:
    result = service.command("check", WOOCOMMERCE_URL=service.wc.url + "/not-wordpress")
    assert result.returncode == 2
    assert "WOOCOMMERCE_URL" in result.stderr


def test_check_with_a_bad_value_exits_2_naming_the_variable(service: Service) -> None:
    result = service.command("check", CONNECTOR_POLL_INTERVAL="often")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: CONNECTOR_POLL_INTERVAL: expected a number >= 1 (got 'often')"]


def test_refused_destination_credentials_pause_it_loudly_and_keep_its_orders(service: Service) -> None:
    for order in sample_woocommerce_orders(6, seed=2):
        service.wc.add_order(order)
    process = service.start(SONARID_API_KEY="sk_test_wrong")
    try:
        wait_for(lambda: "PAUSED sonarid" in service.log.read_text(), "the PAUSED line")
        wait_for(lambda: set(service.states()) == service.paid_ids(), "every paid order to be queued")
    finally:
        code = stop(process)

    assert code == 0
    text = service.log.read_text()
    assert len([line for line in text.splitlines() if "PAUSED sonarid" in line]) == 1  # once, not per order or pass
    assert "SONARID_API_KEY" in text and "sk_test_wrong" not in text
    assert "trying sonarid again in 15 minutes" in text
    rows = [r for r in service.deliveries() if r["state"] != "skipped"]  # skipped: e.g. no e-mail
    assert rows and all(r["state"] in ("pending", "retrying") for r in rows)
    assert all(r["attempts"] == 0 for r in rows)  # a refusal of our key is not the order's failure
    assert service.sonarid.submissions == []


def test_run_without_a_source_exits_2(service: Service) -> None:
    result = service.command("run", WOOCOMMERCE_CONSUMER_KEY="", WOOCOMMERCE_CONSUMER_SECRET="")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no source is enabled: set WOOCOMMERCE_URL")
