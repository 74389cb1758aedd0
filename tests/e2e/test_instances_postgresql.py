"""Several `connector run` and one concurrent `connector backfill` on one ledger, through the CLI over real
HTTP against the sandbox (WooCommerce, BigCommerce, sonarID): judged by what sonarID accepted per dedup
key (`order.id`, `wc_<id>` / `bc_<id>`). Without a kill: every key accepted exactly once. With a SIGKILL of
one instance mid-delivery: nothing lost, and the only keys accepted twice are the killed instance's
requests in flight (those the sandbox had received, plus any answered but not yet recorded), at most its
`CONNECTOR_CONCURRENCY`.

Mostly on PostgreSQL (claims FOR UPDATE SKIP LOCKED); the two-instance case also on SQLite (BEGIN IMMEDIATE).
A killed instance's claims are taken back at once by the others (`Ledger.recover`: the process is gone from
this host); the lease (`CONNECTOR_HTTP_TIMEOUT`-based) only matters for an instance on another host.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlmodel import col, select

from connector.ledger import Attempt, Delivery, Ledger
from connector.sandbox import (
    BigCommerceSandbox,
    RecordedRequest,
    SonarIDSandbox,
    WooCommerceSandbox,
    sample_bigcommerce_orders,
    sample_woocommerce_orders,
)
from connector.sandbox.demo import BC_HASH, BC_TOKEN, SONARID_KEY, WC_KEY, WC_SECRET
from tests.e2e.conftest import Connector
from tests.waiting import wait_for

WC_PAID = ("processing", "completed")  # WOOCOMMERCE_STATUSES' default
BC_PAID = (2, 3, 8, 9, 10, 11)  # BIGCOMMERCE_STATUS_IDS' default
CONCURRENCY = 4
LIMIT = 90.0  # seconds: the most any wait below may take (on a loaded machine); each returns when its condition holds
INTERRUPTED = "interrupted while sending"  # how `Ledger.recover` words a claim taken back from a gone process
DELIVERED = re.compile(r"delivery source=\S+ order=\S+ destination=sonarid state=delivered")


def key(source: str, order_id: str) -> str:
    """sonarID's dedup key for an order: `order.id`."""
    return f"{'wc' if source == 'woocommerce' else 'bc'}_{order_id}"


def _fresh(order: dict[str, Any]) -> dict[str, Any]:
    """A sample order as if placed just now: the store gives it a new id and today's dates."""
    return {k: v for k, v in order.items() if k not in ("id", "number") and not k.startswith("date_")}


@dataclass
class Fleet:
    """The sandbox, one ledger, and `connector run` / `backfill` subprocesses with their logs."""

    wc: WooCommerceSandbox
    bc: BigCommerceSandbox
    sonarid: SonarIDSandbox
    connector: Connector
    tmp: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{args[0]}-{len(self.processes)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "connector", *args], cwd=self.tmp,
                                       env=self.connector.environment(), stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(process)
        self.logs[process.pid] = log
        return process

    def start_runs(self, count: int) -> list[subprocess.Popen[bytes]]:
        """`count` instances of `connector run`, returned once each says it started."""
        runs = [self.start("run") for _ in range(count)]
        for process in runs:
            wait_for(lambda process=process: "service started" in self.log(process) or process.poll() is not None,
                     "the instance to start", LIMIT)
            assert process.poll() is None, self.log(process)[-3000:]
        return runs

    def pollers(self) -> set[int]:
        """The pids of the instances holding a store's poll (its lease not run out)."""
        ledger = Ledger(self.connector.url)
        try:
            now = datetime.now(UTC)
            return {int(p.holder.rpartition(":")[2]) for p in ledger.poll_leases()
                    if p.holder and p.expires_at and p.expires_at > now}
        finally:
            ledger.close()

    def log(self, process: subprocess.Popen[bytes]) -> str:
        return self.logs[process.pid].read_text(errors="replace")

    def delivered_by(self, process: subprocess.Popen[bytes]) -> int:
        return len(DELIVERED.findall(self.log(process)))

    def stop(self, process: subprocess.Popen[bytes]) -> int:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process.wait(timeout=LIMIT)

    def load(self) -> None:
        """A few hundred orders in both stores, created over the last 3 days."""
        for order in sample_woocommerce_orders(100, seed=41):
            self.wc.add_order(order)
        for order in sample_bigcommerce_orders(100, seed=41):
            self.bc.add_order(order)

    def add(self, count: int, seed: int) -> None:
        """New orders placed now in both stores, for the polls to find."""
        for order in sample_woocommerce_orders(count, seed=seed):
            self.wc.add_order(_fresh(order))
        for order in sample_bigcommerce_orders(count, seed=seed):
            self.bc.add_order(_fresh(order))

    def expected(self) -> set[str]:
        """The dedup key of every paid order that sonarID can take (it requires an e-mail)."""
        wc = {f"wc_{o['id']}" for o in self.wc.orders.values() if o["status"] in WC_PAID and o["billing"]["email"]}
        bc = {f"bc_{o['id']}" for o in self.bc.orders.values()
              if o["status_id"] in BC_PAID and o["billing_address"]["email"]}
        return wc | bc

    def paid(self) -> set[tuple[str, str]]:
        return ({("woocommerce", str(o["id"])) for o in self.wc.orders.values() if o["status"] in WC_PAID}
                | {("bigcommerce", str(o["id"])) for o in self.bc.orders.values() if o["status_id"] in BC_PAID})

    def accepted(self) -> Counter[str]:
        """How many times sonarID accepted each `order.id`."""
        return Counter(body["order"]["id"] for body in list(self.sonarid.submissions))

    def settled(self) -> bool:
        """Every expected key accepted, and every paid order in a final state in the ledger."""
        if not self.expected() <= set(self.accepted()):
            return False
        states = self.states()
        return set(states) == self.paid() and all(s in ("delivered", "skipped", "dead") for s in states.values())

    def states(self) -> dict[tuple[str, str], str]:
        ledger = Ledger(self.connector.url)
        try:
            return {(d.source, d.order_id): d.state for d in ledger.deliveries(destination="sonarid")}
        finally:
            ledger.close()

    def interrupted(self) -> set[str]:
        """The keys of the deliveries some instance took back from a killed one (`Ledger.recover`'s attempts)."""
        ledger = Ledger(self.connector.url)
        try:
            with ledger.read() as s:
                rows = s.exec(select(Delivery).join(Attempt, col(Attempt.delivery_id) == col(Delivery.id))
                              .where(col(Attempt.message).startswith(INTERRUPTED))).all()
            return {key(d.source, d.order_id) for d in rows}
        finally:
            ledger.close()

    def ports(self, process: subprocess.Popen[bytes]) -> set[int]:
        """The client ports of `process`'s connections to sonarID (kept alive from one request to the next)."""
        return {c.laddr.port for c in psutil.Process(process.pid).net_connections(kind="tcp")
                if c.raddr and c.raddr.port == self.sonarid.port}

    def open_from(self, ports: set[int]) -> list[RecordedRequest]:
        """The requests sonarID has received from these client ports and not answered yet."""
        return [r for r in self.sonarid.open_requests if r.client and r.client[1] in ports]


@pytest.fixture
def fleet(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    url = (request.getfixturevalue("postgres_url") if getattr(request, "param", "postgresql") == "postgresql"
           else f"sqlite:///{tmp_path / 'ledger.db'}")
    with (WooCommerceSandbox(WC_KEY, WC_SECRET) as wc, BigCommerceSandbox(BC_HASH, BC_TOKEN, quota=None) as bc,
          SonarIDSandbox(SONARID_KEY) as sonarid):
        connector = Connector(wc, sonarid, tmp_path, bc=bc, url=url)
        connector.env.update(CONNECTOR_POLL_INTERVAL="1", CONNECTOR_LOOKBACK=str(4 * 86400),  # the samples span 3 days
                             CONNECTOR_CONCURRENCY=str(CONCURRENCY))
        Ledger(url).close()  # the schema first, so that every process starts working at once
        fleet = Fleet(wc, bc, sonarid, connector, tmp_path)
        try:
            yield fleet
        finally:
            for process in fleet.processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        assert bc.errors == [] and wc.errors == [] and sonarid.errors == []


def backfill_since() -> str:
    return (datetime.now(UTC) - timedelta(days=4)).isoformat(timespec="seconds")


def check_each_key_accepted_once(fleet: Fleet) -> None:
    accepted = fleet.accepted()
    assert set(accepted) == fleet.expected()  # nothing lost
    assert {k: n for k, n in accepted.items() if n > 1} == {}  # no duplicates
    states = {key(source, order_id): state for (source, order_id), state in fleet.states().items()}
    assert {k for k, state in states.items() if state == "delivered"} == fleet.expected()
    assert {state for k, state in states.items() if k not in fleet.expected()} <= {"skipped"}  # the paid, e-mail-less


def run_fleet(fleet: Fleet, instances: int) -> None:
    fleet.sonarid.faults.add("slow", delay=0.05, times=100_000)  # requests overlap, as with a real API
    runs = fleet.start_runs(instances)
    fleet.load()  # every instance is up; the orders appear, created over the last 3 days
    backfill = fleet.start("backfill", "--since", backfill_since())
    for batch, seed in enumerate((51, 52, 53), start=1):  # orders placed while they run: the polls must find them
        wait_for(lambda batch=batch: len(fleet.sonarid.submissions) >= 40 * batch, "deliveries under way", LIMIT)
        fleet.add(8, seed)
    wait_for(fleet.settled, "every paid order delivered once (or skipped)", LIMIT)
    assert backfill.wait(timeout=LIMIT) == 0, fleet.log(backfill)[-3000:]
    codes = [fleet.stop(p) for p in runs]
    assert codes == [0] * instances, [fleet.log(p)[-3000:] for p in runs]

    check_each_key_accepted_once(fleet)
    delivered = [fleet.delivered_by(p) for p in [*runs, backfill]]
    assert sum(delivered) == len(fleet.expected())  # each delivery logged once, by whichever process sent it
    assert all(delivered[:instances]), delivered  # every instance took its share


@pytest.mark.parametrize("fleet", ["postgresql", "sqlite"], indirect=True)
def test_two_instances_and_a_backfill_accept_each_order_exactly_once(fleet: Fleet) -> None:
    run_fleet(fleet, 2)


def test_three_instances_and_a_backfill_on_postgresql_accept_each_order_exactly_once(fleet: Fleet) -> None:
    run_fleet(fleet, 3)


def test_an_instance_killed_mid_delivery_loses_nothing_and_duplicates_only_its_requests_in_flight(fleet: Fleet) -> None:
    fleet.sonarid.faults.add("slow", delay=0.25, times=100_000)  # deliveries stay in flight long enough to kill one
    [victim] = fleet.start_runs(1)
    wait_for(lambda: fleet.pollers() == {victim.pid}, "the first instance to hold the poll of both stores", LIMIT)
    survivors = fleet.start_runs(2)
    fleet.load()
    backfill = fleet.start("backfill", "--since", backfill_since())
    ports: set[int] = set()

    def victim_busy() -> bool:
        ports.clear()
        ports.update(fleet.ports(victim))
        return len(fleet.open_from(ports)) >= 2

    wait_for(victim_busy, "the polling instance to have requests in flight", LIMIT)
    killed_at = time.monotonic()
    victim.kill()  # SIGKILL: no shutdown; what it claimed stays `sending`, its polls stay taken
    assert victim.wait(timeout=LIMIT) == -signal.SIGKILL
    # sent by it and received by sonarID, but not answered when it died: it cannot have recorded them
    in_flight = {r.json()["order"]["id"] for r in fleet.sonarid.in_flight_at(killed_at)
                 if r.client and r.client[1] in ports}
    wait_for(lambda: fleet.log(backfill).count(" orders read, queued ") == 2, "the backfill to have read both stores",
             LIMIT)  # so that only a poll can find what follows
    fleet.add(8, 61)  # placed after the kill: another instance must take the polls over to find them
    [restarted] = fleet.start_runs(1)
    fleet.add(8, 62)
    wait_for(fleet.settled, "every paid order delivered (or skipped) after the kill", LIMIT)
    assert backfill.wait(timeout=LIMIT) == 0, fleet.log(backfill)[-3000:]
    assert fleet.pollers() <= {p.pid for p in [*survivors, restarted]}
    codes = [fleet.stop(p) for p in [*survivors, restarted]]
    assert codes == [0, 0, 0], [fleet.log(p)[-3000:] for p in [*survivors, restarted]]

    accepted = fleet.accepted()
    assert set(accepted) == fleet.expected()  # nothing lost
    twice = {k for k, n in accepted.items() if n > 1}
    interrupted = fleet.interrupted()  # the killed instance's claims, taken back by the others
    print(f"in flight at the kill: {len(in_flight)} requests received by sonarID; {len(interrupted)} claims "
          f"taken back; {len(twice)} keys accepted twice")
    assert max(accepted.values()) <= 2
    assert in_flight and in_flight <= twice  # each request it had sent reached sonarID, and was sent again
    assert twice <= interrupted  # nothing else was sent twice
    assert len(interrupted) <= CONCURRENCY  # it never holds more claims than it sends at once
