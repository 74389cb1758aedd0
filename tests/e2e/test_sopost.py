"""SoPost end to end: events posted over real HTTP to the running service (`connector run`), orders read
from the simulated SoPost, delivered to the simulated sonarID; every answer of the webhook endpoint."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connector.sandbox import SonarIDSandbox, SoPostSandbox, sample_sopost_order
from connector.sandbox.demo import SOPOST_WEBHOOK_SECRET, sopost_env
from tests.e2e.conftest import Connector
from tests.waiting import wait_for

LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


class Running:
    """`connector run` with SoPost on, its log in a file, its listener's URL read from the log."""

    def __init__(self, connector: Connector, **env: str) -> None:
        self.connector = connector
        self.log = connector.tmp / f"run-{len(list(connector.tmp.glob('run-*.log')))}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "connector", "run"], cwd=connector.tmp,
                                            env=connector.environment(**env), stdout=out, stderr=subprocess.STDOUT)
        self.url = wait_for(self._url, "the listener's address in the log")
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def _url(self) -> str | None:
        if self.process.poll() is not None:
            raise AssertionError(f"the service exited {self.process.returncode}:\n{self.log.read_text()}")
        found = LISTENING.search(self.log.read_text())
        return found.group(1) if found else None

    def hook(self, secret: str = SOPOST_WEBHOOK_SECRET) -> str:
        return f"{self.url}/webhooks/sopost/{secret}"

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=60)


@pytest.fixture
def sopost() -> Iterator[SoPostSandbox]:
    with SoPostSandbox() as server:
        yield server
    assert server.errors == []


@pytest.fixture
def sp(sonarid: SonarIDSandbox, sopost: SoPostSandbox, tmp_path: Path) -> Connector:
    """The CLI with only SoPost (and sonarID) configured; the service polls nothing."""
    connector = Connector(None, sonarid, tmp_path)
    connector.env.update(sopost_env(sopost), CONNECTOR_RETRY_BASE="0")
    return connector


@pytest.fixture
def service(sp: Connector) -> Iterator[Running]:
    running = Running(sp)
    yield running
    assert running.stop() == 0, running.log.read_text()
    assert SOPOST_WEBHOOK_SECRET not in running.log.read_text()  # the secret path is never logged


def inbox(connector: Connector) -> dict[str, str]:
    with sqlite3.connect(connector.database) as db:
        return dict(db.execute("SELECT event_id, state FROM inbox").fetchall())


def submitted(sonarid: SonarIDSandbox, order_id: str) -> list[dict[str, object]]:
    return [r.json() for r in sonarid.requests if r.method == "POST" and r.json().get("order", {}).get("id") == f"sp_{order_id}"]


# -- item 2: every answer of the webhook endpoint ----------------------------------------------

def test_every_answer_of_the_webhook_endpoint(service: Running, sopost: SoPostSandbox, sp: Connector) -> None:
    order_id = sopost.add_order(sample_sopost_order(1))
    event = sopost.event(order_id)
    first = service.client.post(service.hook(), json=event)
    assert (first.status_code, first.json()) == (202, {"accepted": True, "duplicate": False})
    again = service.client.post(service.hook(), json=event)
    assert (again.status_code, again.json()) == (202, {"accepted": True, "duplicate": True})
    assert service.client.post(service.hook("wrong-secret-0123456789"), json=event).status_code == 401
    for body in (b"not json", b"[1, 2]", json.dumps({**event, "order_id": 7}).encode(),
                 json.dumps({k: v for k, v in event.items() if k != "event_id"}).encode()):
        assert service.client.post(service.hook(), content=body).status_code == 400, body
    assert service.client.post(service.hook(), content=b"{" + b" " * 20_000 + b"}").status_code == 413
    assert service.client.get(service.hook()).status_code == 405
    metrics = wait_for(lambda: (text := service.client.get("/metrics").text)
                       and 'connector_webhook_events_total{result="duplicate",source="sopost"} 1.0' in text and text,
                       "the duplicate counted")
    assert 'connector_webhook_events_total{result="received",source="sopost"} 1.0' in metrics
    assert 'connector_webhook_events_total{result="rejected",source="sopost"} 6.0' in metrics
    wait_for(lambda: len(submitted(sp.sonarid, order_id)) == 1, "the order at sonarID")
    assert list(inbox(sp).values()) == ["done"]


def test_503_when_the_ledger_cannot_store_the_event(sp: Connector, sopost: SoPostSandbox) -> None:
    running = Running(sp, CONNECTOR_DATABASE_URL=f"sqlite:///{sp.database}?timeout=1")
    try:
        wait_for(lambda: running.client.get("/healthz").status_code == 200, "the service healthy")
        holder = sqlite3.connect(sp.database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the ledger's write lock
        try:
            answer = running.client.post(running.hook(), json=sopost.event(sopost.add_order(sample_sopost_order(2))))
            assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        event = sopost.event(sopost.add_order(sample_sopost_order(3)))
        assert running.client.post(running.hook(), json=event).status_code == 202  # SoPost's retry is taken
    finally:
        assert running.stop() == 0


# -- item 3: processing, through the running service ----------------------------------------

def test_webhook_orders_reach_sonarid_decided_on_the_status_read(service: Running, sopost: SoPostSandbox,
                                                                 sp: Connector) -> None:
    approved = sopost.add_order(sample_sopost_order(10))
    pending = sopost.add_order(sample_sopost_order(11, status="PENDING"))
    rejected = sopost.add_order(sample_sopost_order(12, status="REJECTED"))
    no_consent = sopost.add_order(sample_sopost_order(13, consent=False))
    missing = "5050dead-0000-4000-8000-000000000000"
    event = sopost.event(approved)
    for e in (event, event, sopost.event(approved, "PENDING"),  # a duplicate, and an older event arriving late
              sopost.event(pending), sopost.event(rejected), sopost.event(no_consent),
              sopost.event(missing, "APPROVED")):
        assert service.client.post(service.hook(), json=e).status_code == 202
    wait_for(lambda: len(submitted(sp.sonarid, approved)) == 1, "the approved order at sonarID")
    payload = submitted(sp.sonarid, approved)[0]
    assert payload == {"email": "lena.lindqvist.10@example.com", "firstName": "Lena", "lastName": "Lindqvist",
                       "phone": "+4930123456", "address": {"city": "Berlin", "zipcode": "10115", "country": "DE"},
                       "order": {"id": f"sp_{approved}", "number": "9010ABCDEFG"}}  # no money: samples are free
    wait_for(lambda: sp.states().get(no_consent) == "skipped", "the order without consent skipped")
    ledger = sp.ledger()
    try:
        [row] = ledger.deliveries(order_id=no_consent)
        assert "no APPROVED marketing consent" in (row.reason or "")
    finally:
        ledger.close()
    wait_for(lambda: sorted(inbox(sp).values()).count("done") == 3 and "failed" in inbox(sp).values()
             and "rejected" in inbox(sp).values(), "the events decided")
    assert rejected not in sp.states() and missing not in sp.states()
    assert sopost.fetches(pending) >= 1 and pending not in sp.states()  # still undecided: read again later
    sopost.set_status(pending, "APPROVED")
    wait_for(lambda: len(submitted(sp.sonarid, pending)) == 1, "the order approved later at sonarID", deadline=30)
    assert len(submitted(sp.sonarid, approved)) == 1  # still once
    status = sp("status", "--json")
    assert status.code == 0, status.err
    report = json.loads(status.out)
    assert report["inbox"]["sopost"]["counts"]["done"] == 4 and report["inbox"]["sopost"]["counts"]["failed"] == 1


def test_consent_not_required_sends_every_approved_order(sp: Connector, sopost: SoPostSandbox) -> None:
    running = Running(sp, SOPOST_REQUIRE_CONSENT="false")
    try:
        order_id = sopost.add_order(sample_sopost_order(20, consent=False))
        assert running.client.post(running.hook(), json=sopost.event(order_id)).status_code == 202
        wait_for(lambda: len(submitted(sp.sonarid, order_id)) == 1, "the order without consent at sonarID")
    finally:
        assert running.stop() == 0


# -- crash safety and a slow client -----------------------------------------------------------

def test_an_event_stored_before_a_sigkill_is_processed_after_the_restart_once(sp: Connector, sopost: SoPostSandbox) -> None:
    order_id = sopost.add_order(sample_sopost_order(30))
    sopost.faults.add("slow", delay=20, path=f"/orders/{order_id}")  # the read hangs: killed mid-processing
    first = Running(sp)
    assert first.client.post(first.hook(), json=sopost.event(order_id)).status_code == 202
    wait_for(lambda: sopost.fetches(order_id) == 1, "the order being read")
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    assert list(inbox(sp).values()) == ["waiting"] and sp.states() == {}
    second = Running(sp)
    try:
        wait_for(lambda: len(submitted(sp.sonarid, order_id)) == 1, "the order at sonarID after the restart")
        wait_for(lambda: list(inbox(sp).values()) == ["done"], "the event closed")
    finally:
        assert second.stop() == 0
    assert len(submitted(sp.sonarid, order_id)) == 1 and sp.states() == {order_id: "delivered"}


def test_slow_clients_holding_connections_do_not_stop_the_listener(service: Running, sopost: SoPostSandbox,
                                                                   sp: Connector) -> None:
    host, port = service.url.removeprefix("http://").split(":")
    slow = []
    for _ in range(8):  # more than the listener's worker threads
        connection = socket.create_connection((host, int(port)))
        connection.sendall(f"POST /webhooks/sopost/{SOPOST_WEBHOOK_SECRET} HTTP/1.1\r\nHost: x\r\n"
                           "Content-Type: application/json\r\nContent-Length: 300\r\n\r\n{\"event_id\":".encode())
        slow.append(connection)
    try:
        assert service.client.get("/healthz").status_code == 200
        order_id = sopost.add_order(sample_sopost_order(40))
        assert service.client.post(service.hook(), json=sopost.event(order_id)).status_code == 202
        wait_for(lambda: len(submitted(sp.sonarid, order_id)) == 1, "the order at sonarID")
    finally:
        for connection in slow:
            connection.close()


def test_healthz_and_metrics(service: Running, sopost: SoPostSandbox, sp: Connector) -> None:
    health = service.client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok", "reason": "ledger answers"})
    order_id = sopost.add_order(sample_sopost_order(90))
    assert service.client.post(service.hook(), json=sopost.event(order_id)).status_code == 202
    wait_for(lambda: sp.states().get(order_id) == "delivered", "the order delivered")
    text = wait_for(lambda: (t := service.client.get("/metrics").text)
                    and 'connector_deliveries_total{destination="sonarid",outcome="delivered"} 1.0' in t and t,
                    "the delivery counted")
    assert "connector_ledger_up 1.0" in text
    assert 'connector_orders_read_total{source="sopost"} 1.0' in text
    assert 'connector_destination_request_seconds_count{destination="sonarid"} 1.0' in text
    assert 'connector_backlog{destination="sonarid"} 0.0' in text  # nothing undelivered
    assert 'connector_oldest_undelivered_age_seconds{destination="sonarid"} 0.0' in text
    assert SOPOST_WEBHOOK_SECRET not in text


def test_webhook_to_sonarid_on_each_ledger_backend(sonarid: SonarIDSandbox, sopost: SoPostSandbox, tmp_path: Path,
                                                   database_url: str) -> None:
    from connector.inbox import Inbox

    connector = Connector(None, sonarid, tmp_path, url=database_url)
    connector.env.update(sopost_env(sopost), CONNECTOR_RETRY_BASE="0")
    running = Running(connector)
    try:
        order_id = sopost.add_order(sample_sopost_order(70))
        event = sopost.event(order_id)
        assert [running.client.post(running.hook(), json=event).json()["duplicate"] for _ in range(3)] == [
            False, True, True]
        wait_for(lambda: connector.states().get(order_id) == "delivered", "the order delivered")
    finally:
        assert running.stop() == 0
    ledger = connector.ledger()
    try:
        assert [(e.event_id, e.state) for e in Inbox(ledger, "sopost").events()] == [(event["event_id"], "done")]
    finally:
        ledger.close()
    assert len(submitted(sonarid, order_id)) == 1


def test_sigterm_answers_a_webhook_in_flight_in_full(sp: Connector, sopost: SoPostSandbox) -> None:
    """SIGTERM while the handler waits for the ledger: the answer is still whole (202), and the service exits 0."""
    import threading

    running = Running(sp, CONNECTOR_DATABASE_URL=f"sqlite:///{sp.database}?timeout=20", CONNECTOR_LOG_LEVEL="DEBUG")
    wait_for(lambda: running.client.get("/healthz").status_code == 200, "the service healthy")
    event = sopost.event(sopost.add_order(sample_sopost_order(95)))
    holder = sqlite3.connect(sp.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the handler's insert waits for this lock
    answers: list[httpx.Response] = []
    post = threading.Thread(target=lambda: answers.append(httpx.post(running.hook(), json=event, timeout=30)))
    post.start()
    try:
        wait_for(lambda: "POST /webhooks/sopost/*** received" in running.log.read_text(), "the webhook in the handler")
        running.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopping (SIGTERM)" in running.log.read_text(), "the service stopping")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    post.join(timeout=30)
    assert [(a.status_code, a.json()) for a in answers] == [(202, {"accepted": True, "duplicate": False})]
    assert running.stop() == 0
    assert list(inbox(sp).values()) == ["waiting"]  # stored; read at the next start
    assert SOPOST_WEBHOOK_SECRET not in running.log.read_text()
