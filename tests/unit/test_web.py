"""The listener: health, the webhook's refusals, and a stop that answers what it read and refuses the rest."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from connector.inbox import Inbox
from connector.ledger import Ledger, utcnow
from connector.web import Hook, ListenError, Listener, WebApp, parse_event
from tests.waiting import wait_for

SECRET = "unit-webhook-secret-0123456789"
EVENT = {"event_id": "e1", "event": "APPROVED", "order_id": "o1", "activity_id": "a1"}


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'c.db'}")
    yield ledger
    ledger.close()


def call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[str, bytes]:
    import io

    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"] = status

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body)}
    body = b"".join(app(environ, start_response))
    return answer["status"], body


def test_health_is_503_when_a_poll_is_overdue_and_200_once_it_ran(ledger: Ledger) -> None:
    started = utcnow() - timedelta(hours=1)
    app = WebApp(ledger, polled=lambda: [("woocommerce", "shop")], poll_interval=60, started=started)
    status, body = call(app, "GET", "/healthz")
    assert status.startswith("503") and b"poll overdue: woocommerce shop last polled never" in body
    ledger.record_poll("woocommerce", "shop", seen=0, enqueued=0, error=None)
    status, body = call(app, "GET", "/healthz")
    assert status.startswith("200") and body == b'{"status": "ok", "reason": "ledger answers; polls on time"}\n'
    fresh = WebApp(ledger, polled=lambda: [("bigcommerce", "abc")], poll_interval=60)  # just started: not overdue yet
    assert call(fresh, "GET", "/healthz")[0].startswith("200")


class DownLedger:
    def read(self) -> Any:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    def write(self) -> Any:
        return self.read()


def test_health_and_webhook_are_503_when_the_ledger_does_not_answer() -> None:
    down: Any = DownLedger()
    app = WebApp(down, hooks={"sopost": Hook(SECRET, Inbox(down, "sopost"))})
    status, body = call(app, "GET", "/healthz")
    assert status.startswith("503") and b"the ledger does not answer" in body
    import json

    status, _ = call(app, "POST", f"/webhooks/sopost/{SECRET}", json.dumps(EVENT).encode())
    assert status.startswith("503")


@pytest.mark.parametrize(("body", "why"), [
    (b"\xff", "not JSON"), (b"null", "not a JSON object"), (b'{"event_id": "e"}', "event is missing"),
    (b'{"event_id": 1, "event": "A", "order_id": "o", "activity_id": "a"}', "event_id is missing or not a string"),
    (b'{"event_id": "", "event": "A", "order_id": "o", "activity_id": "a"}', "event_id is missing"),
    (('{"event_id": "%s", "event": "A", "order_id": "o", "activity_id": "a"}' % ("x" * 201)).encode(), "longer")])
def test_a_malformed_event_is_refused_with_the_reason(body: bytes, why: str) -> None:
    event, problem = parse_event(body)
    assert event is None and why in problem


def test_unknown_paths_and_a_webhook_source_that_is_off_are_404(ledger: Ledger) -> None:
    app = WebApp(ledger)
    assert call(app, "POST", f"/webhooks/sopost/{SECRET}", b"{}")[0].startswith("404")
    assert call(app, "GET", "/nothing")[0].startswith("404")
    assert call(app, "POST", "/healthz")[0].startswith("405")


def slow_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    time.sleep(float(environ.get("QUERY_STRING") or 0))
    body = b"x" * 200_000
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


def test_stop_answers_the_requests_it_read_in_full_and_refuses_new_connections() -> None:
    listener = Listener(slow_app, "127.0.0.1", 0)
    listener.start()
    host, port = listener.address
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(httpx.get(f"{listener.url}/?1.0", timeout=10)))
    thread.start()
    wait_for(lambda: any(getattr(c, "requests", None) for c in listener._map().values()), "the request being served")
    listener.stop()
    thread.join(timeout=10)
    assert [a.status_code for a in answers] == [200] and len(answers[0].content) == 200_000  # whole, not half
    with pytest.raises(ConnectionRefusedError):  # the listening socket is closed: refused, not left hanging
        socket.create_connection((host, port), timeout=2)


def test_an_address_in_use_is_a_setting_to_fix(ledger: Ledger) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(ListenError, match="^CONNECTOR_LISTEN: cannot listen on 127.0.0.1:"):
            Listener(WebApp(ledger), "127.0.0.1", taken.getsockname()[1]).start()
    finally:
        taken.close()


def test_ledger_metrics_backlog_its_age_and_poll_lag() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from connector.metrics import LedgerCollector

    now = utcnow()
    registry = CollectorRegistry()
    registry.register(LedgerCollector(lambda: ({"sonarid": (3, now - timedelta(seconds=90)), "sophio": (0, None)},
                                               [("woocommerce", "shop", now - timedelta(seconds=42))]), lambda: now))
    text = generate_latest(registry).decode()
    assert 'connector_backlog{destination="sonarid"} 3.0' in text and 'connector_backlog{destination="sophio"} 0.0' in text
    assert 'connector_oldest_undelivered_age_seconds{destination="sonarid"} 90.0' in text
    assert 'connector_poll_lag_seconds{source="woocommerce",store="shop"} 42.0' in text

    def down() -> Any:
        raise OperationalError("SELECT", {}, Exception("gone"))

    failing = CollectorRegistry()
    failing.register(LedgerCollector(down, lambda: now))
    assert "connector_ledger_up 0.0" in generate_latest(failing).decode()  # a scrape never fails


def test_a_request_trickling_in_is_cut_at_the_read_deadline_and_others_are_served() -> None:
    import connector.web as web

    listener = Listener(slow_app, "127.0.0.1", 0, read_timeout=0.5)
    original, web.CLEANUP_INTERVAL = web.CLEANUP_INTERVAL, 1  # type: ignore[misc]
    try:
        listener.start()
    finally:
        web.CLEANUP_INTERVAL = original  # type: ignore[misc]
    try:
        host, port = listener.address
        trickle = socket.create_connection((host, port), timeout=10)
        trickle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers never finished

        def keep_trickling() -> bytes | None:
            try:
                trickle.sendall(b"X-Slow: 1\r\n")  # every byte resets the idle timeout, not the read deadline
                trickle.settimeout(0.05)
                return trickle.recv(1) or b"closed"
            except TimeoutError:
                return None
            except OSError:
                return b"closed"

        assert httpx.get(f"{listener.url}/?0", timeout=10).status_code == 200  # the others are served meanwhile
        assert wait_for(keep_trickling, "the trickling connection closed") == b"closed"
    finally:
        trickle.close()
        listener.stop()
