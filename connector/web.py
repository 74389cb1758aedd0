"""The service's HTTP listener (`CONNECTOR_LISTEN`): webhooks in, health and metrics out.

Served by waitress, a production WSGI server that reads each request whole (headers and body, buffered,
de-chunked) on its I/O thread before a worker thread sees it, so a slow or stalled client holds a
socket, never a worker. Chosen for that, for being pure Python with no C extension (the unit's
MemoryDenyWriteExecute stays), and for its limits: request body size, header size, an idle timeout
on every connection, and a connection limit; to which `Listener` adds a deadline for a whole request
to arrive (`READ_TIMEOUT`), so that a client trickling its headers cannot hold a connection for ever.
TLS belongs to the reverse proxy in front (docs/service.md).

- `GET /healthz`: 200 while the ledger answers and no poll is overdue, else 503; a one-line JSON reason.
- `GET /metrics`: Prometheus exposition (connector.metrics).
- `POST /webhooks/sopost/<SOPOST_WEBHOOK_SECRET>`: the secret compared in constant time and never
  logged; the body checked (a JSON object with the four documented string fields, at most
  `WEBHOOK_MAX_BODY` bytes); the event stored in the inbox in one short transaction; 202 at once (a
  repeated `event_id` too, counted as a duplicate), 401 for a wrong secret, 400 for a malformed body,
  413 for an oversized one, 503 when the ledger cannot store it (SoPost may retry). Nothing here
  calls SoPost: the intake job reads the order (connector.sopost_intake).

Stop (`Listener.stop`, on SIGTERM): no new connection is accepted, requests already read are
answered in full, then every connection is closed; one still being received is closed unanswered
(refused, never half-written).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from connector import metrics
from connector.errors import BadInput, LedgerUnavailable
from connector.inbox import Inbox
from connector.ledger import utcnow
from connector.redaction import redact

if TYPE_CHECKING:
    from connector.ledger import Ledger

log = logging.getLogger("connector.web")

WEBHOOK_MAX_BODY = 16 * 1024  # bytes: an OrderEvent is four short strings (about 200 bytes)
REQUEST_MAX_BODY = 1024 * 1024  # waitress refuses (413) anything larger before it is buffered
MAX_HEADERS = 16 * 1024  # bytes of request line and headers
IDLE_TIMEOUT = 30  # seconds a connection may stay silent, mid-request or between requests
CLEANUP_INTERVAL = 5  # seconds between waitress's checks of both (so a deadline is kept within this)
READ_TIMEOUT = 20.0  # seconds one request (its headers and body) may take to arrive, however it trickles in
CONNECTION_LIMIT = 100  # open connections; beyond it new ones wait in the backlog
THREADS = 4  # workers; they only ever see complete requests
MAX_FIELD = 200  # characters of one webhook field
WEBHOOK_FIELDS = ("event_id", "event", "order_id", "activity_id")
WEBHOOK_PREFIX = "/webhooks/"
OVERDUE_FACTOR = 3  # a poll is overdue after this many intervals without one (at least OVERDUE_MIN)
OVERDUE_MIN = 120.0
STOP_WAIT = 10.0  # seconds `stop` waits for requests already read to be answered

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Hook:
    """A webhook source: its secret path segment, its inbox, and what to wake when an event is stored."""

    secret: str
    inbox: Inbox
    wake: Callable[[], None] = lambda: None


class WebApp:
    """The WSGI application (no framework: three routes)."""

    def __init__(self, ledger: Ledger, *, hooks: dict[str, Hook] | None = None,
                 polled: Callable[[], list[tuple[str, str]]] = list, poll_interval: float = 60.0,
                 started: datetime | None = None) -> None:
        self.ledger = ledger
        self.hooks = hooks or {}
        self.polled = polled  # (source, store) this service polls
        self.poll_interval = poll_interval
        self.started = started or utcnow()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        began = time.monotonic()
        log.debug("listener %s %s received", environ.get("REQUEST_METHOD"), _shown_path(environ.get("PATH_INFO", "")))
        try:
            status, headers, body = self.route(environ)
        except Exception:
            log.exception("listener: unexpected failure answering %s %s", environ.get("REQUEST_METHOD"),
                          _shown_path(environ.get("PATH_INFO", "")))
            status, headers, body = _json("500 Internal Server Error", {"error": "internal error"})
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        log.debug("listener %s %s -> %s in %.3fs", environ.get("REQUEST_METHOD"), _shown_path(environ.get("PATH_INFO", "")),
                  status.split()[0], time.monotonic() - began)
        return [body]

    def route(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        if path == "/healthz":
            return self.health() if method in ("GET", "HEAD") else _not_allowed("GET")
        if path == "/metrics":
            if method not in ("GET", "HEAD"):
                return _not_allowed("GET")
            return "200 OK", [("Content-Type", CONTENT_TYPE_LATEST)], generate_latest(metrics.REGISTRY)
        if path.startswith(WEBHOOK_PREFIX):
            source, _, secret = path[len(WEBHOOK_PREFIX):].partition("/")
            hook = self.hooks.get(source)
            if hook is not None and "/" not in secret:
                return self.webhook(source, hook, secret, environ) if method == "POST" else _not_allowed("POST")
        return _json("404 Not Found", {"error": "not found"})

    # -- health ------------------------------------------------------------------------------

    def health(self) -> tuple[str, list[tuple[str, str]], bytes]:
        try:
            with self.ledger.read() as s:
                s.exec(text("SELECT 1"))  # type: ignore[call-overload]
                cursors = {(c.source, c.store): c.last_poll_at for c in self.ledger.cursors() if c.name == "live"}
        except (SQLAlchemyError, LedgerUnavailable, OSError) as exc:
            return _json("503 Service Unavailable", {"status": "unavailable",
                                                     "reason": f"the ledger does not answer: {_one_line(exc)}"})
        now = utcnow()
        allowed = timedelta(seconds=max(OVERDUE_MIN, OVERDUE_FACTOR * self.poll_interval))
        late = []
        for source, store in self.polled():
            last = cursors.get((source, store))
            reference = self.started if last is None else max(last, self.started)  # a new service gets one allowance
            if now - reference > allowed:
                late.append(f"{source} {store} last polled {'never' if last is None else last.isoformat(timespec='seconds')}")
        if late:
            return _json("503 Service Unavailable", {"status": "unavailable", "reason": "poll overdue: " + "; ".join(late)})
        polls = "; polls on time" if self.polled() else ""
        return _json("200 OK", {"status": "ok", "reason": f"ledger answers{polls}"})

    # -- webhooks ----------------------------------------------------------------------------

    def webhook(self, source: str, hook: Hook, secret: str, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        def rejected(status: str, why: str) -> tuple[str, list[tuple[str, str]], bytes]:
            metrics.WEBHOOK_EVENTS.labels(source, "rejected").inc()
            log.warning("webhook %s refused: %s", source, why)
            return _json(status, {"error": why})

        if not hmac.compare_digest(secret.encode("utf-8", "surrogateescape"), hook.secret.encode()):
            return rejected("401 Unauthorized", "unknown webhook path")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return rejected("400 Bad Request", "unreadable Content-Length")
        if length > WEBHOOK_MAX_BODY:
            return rejected("413 Content Too Large", f"body larger than {WEBHOOK_MAX_BODY} bytes")
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        event, problem = parse_event(body)
        if event is None:
            return rejected("400 Bad Request", problem)
        try:
            new = hook.inbox.receive(event["event_id"], event["event"], event["order_id"], event["activity_id"])
        except (SQLAlchemyError, LedgerUnavailable, OSError) as exc:
            log.error("webhook %s event %s not stored: %s; answered 503 so that it is sent again", source,
                      event["event_id"], _one_line(exc))
            return _json("503 Service Unavailable", {"error": "the ledger cannot store the event now; send it again"},
                         [("Retry-After", "30")])
        metrics.WEBHOOK_EVENTS.labels(source, "received" if new else "duplicate").inc()
        log.info("webhook source=%s event_id=%s event=%s order=%s %s", source, event["event_id"], event["event"],
                 event["order_id"], "stored" if new else "duplicate (already stored)",
                 extra={"event": "webhook", "source": source, "event_id": event["event_id"],
                        "order_id": event["order_id"], "duplicate": not new})
        if new:
            hook.wake()
        return _json("202 Accepted", {"accepted": True, "duplicate": not new})


def parse_event(body: bytes) -> tuple[dict[str, str] | None, str]:
    """The four documented fields of an OrderEvent, each a non-empty string; (None, why) when the body is not that."""
    try:
        event = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, "the body is not JSON"
    if not isinstance(event, dict):
        return None, "the body is not a JSON object"
    for name in WEBHOOK_FIELDS:
        value = event.get(name)
        if not isinstance(value, str) or not value.strip():
            return None, f"{name} is missing or not a string"
        if len(value) > MAX_FIELD or "\x00" in value:
            return None, f"{name} is longer than {MAX_FIELD} characters or not text"
    return {name: event[name].strip() for name in WEBHOOK_FIELDS}, ""


def _json(status: str, payload: dict[str, Any], headers: list[tuple[str, str]] | None = None
          ) -> tuple[str, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json"), *(headers or [])], (json.dumps(payload) + "\n").encode()


def _not_allowed(allow: str) -> tuple[str, list[tuple[str, str]], bytes]:
    return _json("405 Method Not Allowed", {"error": "method not allowed"}, [("Allow", allow)])


def _shown_path(path: str) -> str:
    """The path as logs show it: a webhook's secret segment never."""
    return f"{WEBHOOK_PREFIX}{path[len(WEBHOOK_PREFIX):].partition('/')[0]}/***" if path.startswith(WEBHOOK_PREFIX) else path


def _one_line(exc: BaseException) -> str:
    lines = redact(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _limit_read_time(server: Any, limit: float) -> None:
    """Close a connection whose request has not arrived whole `limit` seconds after its first byte was seen.

    waitress's idle timeout (`channel_timeout`) is reset by every byte, so a client trickling its headers
    would hold a connection for ever; this adds a whole-request deadline, checked at waitress's own
    maintenance (every `cleanup_interval` seconds, in its I/O thread). A request already complete (being
    answered) is never cut."""
    first_seen: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
    maintenance = server.maintenance

    def with_read_deadline(now: float) -> None:
        maintenance(now)
        for channel in list(server.active_channels.values()):
            request = getattr(channel, "request", None)
            if request is None or channel.requests:
                continue
            if now - first_seen.setdefault(request, now) > limit:
                log.warning("listener: closed a connection whose request took more than %gs to arrive", limit)
                channel.will_close = True

    server.maintenance = with_read_deadline


class ListenError(BadInput):
    """The listener cannot bind its address (in use, not this host's): a setting to fix."""


class Listener:
    """The WSGI app on waitress, in a thread of `run`."""

    def __init__(self, app: WebApp | Callable[..., Iterable[bytes]], host: str, port: int, *,
                 read_timeout: float = READ_TIMEOUT) -> None:
        self.app = app
        self.host, self.port = host, port
        self.read_timeout = read_timeout
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._collector: metrics.LedgerCollector | None = None

    def start(self) -> None:
        try:
            self._server = create_server(
                self.app, host=self.host, port=self.port, threads=THREADS, connection_limit=CONNECTION_LIMIT,
                channel_timeout=IDLE_TIMEOUT, cleanup_interval=CLEANUP_INTERVAL, max_request_body_size=REQUEST_MAX_BODY,
                max_request_header_size=MAX_HEADERS, ident="connector", expose_tracebacks=False, asyncore_use_poll=True,
                clear_untrusted_proxy_headers=True)
        except OSError as exc:
            raise ListenError(f"CONNECTOR_LISTEN: cannot listen on {self.host}:{self.port}: {exc.strerror or exc} "
                              "(another process uses it? set CONNECTOR_LISTEN to a free host:port, or empty for none)") from None
        for server in self._servers():
            _limit_read_time(server, self.read_timeout)
        ledger = getattr(self.app, "ledger", None)
        if ledger is not None:
            def read() -> tuple[dict[str, tuple[int, datetime | None]], list[tuple[str, str, datetime | None]]]:
                backlog: dict[str, tuple[int, datetime | None]] = dict.fromkeys(ledger.counts(), (0, None))  # 0, not absent
                backlog.update({name: (b.count, b.oldest_since) for name, b in ledger.backlog().items()})
                return backlog, [(c.source, c.store, c.last_poll_at) for c in ledger.cursors() if c.name == "live"]

            self._collector = metrics.LedgerCollector(read, utcnow)
            metrics.REGISTRY.register(self._collector)
        self._thread = threading.Thread(target=self._server.run, name="listener", daemon=True)
        self._thread.start()
        log.info("listening on %s (GET /healthz, GET /metrics%s)", self.url,
                 "".join(f", POST /webhooks/{name}/***" for name in getattr(self.app, "hooks", {})))

    @property
    def address(self) -> tuple[str, int]:
        servers = self._servers()
        return (servers[0].effective_host, int(servers[0].effective_port)) if servers else (self.host, self.port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def _map(self) -> dict[int, Any]:
        server = self._server
        return dict(getattr(server, "_map", None) or getattr(server, "map", None) or {})

    def _servers(self) -> list[Any]:
        return [d for d in self._map().values() if isinstance(d, BaseWSGIServer)]

    def stop(self, timeout: float = STOP_WAIT) -> None:
        """Accept nothing new; answer what was read; close every connection; end the thread."""
        server, thread = self._server, self._thread
        if server is None:
            return
        servers = self._servers()
        for listening in servers:  # in the I/O thread: stop accepting, close the listening socket
            _in_io_thread(listening, partial(wasyncore.dispatcher.close, listening))
        dispatcher = server.task_dispatcher
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._busy(dispatcher):
            time.sleep(0.02)
        dispatcher.shutdown(cancel_pending=True, timeout=1)
        socket_map = getattr(server, "_map", None) if getattr(server, "_map", None) is not None else server.map
        if servers:
            _in_io_thread(servers[0], lambda: wasyncore.close_all(socket_map))
        if thread is not None:
            thread.join(timeout=3)
            if thread.is_alive():
                wasyncore.close_all(socket_map)
                thread.join(timeout=2)
        if self._collector is not None:
            metrics.REGISTRY.unregister(self._collector)
            self._collector = None
        self._server = self._thread = None
        log.info("listener stopped")

    def _busy(self, dispatcher: Any) -> bool:
        """A request read and not yet answered in full: queued, in a worker, or its answer still being written."""
        if dispatcher.queue:
            return True
        return any(getattr(channel, "requests", None) or getattr(channel, "total_outbufs_len", 0)
                   for channel in self._map().values() if not isinstance(channel, BaseWSGIServer))


def _in_io_thread(server: Any, thunk: Callable[[], Any]) -> None:
    """Run `thunk` in the listener's I/O thread; here when its trigger is already closed (the loop is ending)."""
    try:
        server.trigger.pull_trigger(thunk)
    except OSError:
        log.debug("listener trigger closed; closing from this thread", exc_info=True)
        with contextlib.suppress(OSError):  # already closed
            thunk()
