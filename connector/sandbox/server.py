"""The shared HTTP machinery of every sandbox: a threaded server on 127.0.0.1 (HTTPS with an
`ssl_context`), a request log, faults, and a `Date` header on the service's own clock."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import sys
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from connector.sandbox.faults import Fault, Faults

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"

_CAPTCHA_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Robot Challenge Screen</title>
<meta name="robots" content="noindex, nofollow"></head>
<body><h1>Checking your browser before accessing the site.</h1>
<p>This process is automatic. Your browser will redirect to your requested content shortly.</p>
<noscript>Please enable JavaScript to continue.</noscript></body></html>
"""


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the sandbox received it. Header names are lower-cased."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    raw_query: str = ""
    client: tuple[str, int] | None = None  # the client's (address, port): which process sent it, with the port

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(
        cls,
        status: int,
        payload: Any,
        headers: list[tuple[str, str]] | None = None,
        *,
        escape_slashes: bool = False,
    ) -> Response:
        """Compact JSON; ``escape_slashes`` writes "/" as "\\/" like PHP's json_encode."""
        text = json.dumps(payload, separators=(",", ":"))
        if escape_slashes:
            text = text.replace("/", "\\/")
        return cls(status, text.encode(), [("Content-Type", JSON_CONTENT_TYPE), *(headers or [])])


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # bursts of concurrent clients must not wait for SYN retries

    def __init__(self, sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        self.sandbox.connections += 1
        context = self.sandbox.ssl_context
        if context is not None:  # the handshake happens in the handler's thread (`_Handler.setup`)
            connection = context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        return connection, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up is normal here (timeouts, dropped connections): stay quiet.
        # Anything else is a sandbox bug: keep it for the tests instead of printing it.
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, OSError):
            self.sandbox.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, 40 ms per answer
    server_version = "nginx"
    sys_version = ""
    timeout = 30

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            try:
                self.request.do_handshake()
            except (OSError, ssl.SSLError):
                self.server.sandbox.failed_handshakes += 1
                raise
        super().setup()
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.open_connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header, on the service's clock (a store's may be minutes off)."""
        return format_datetime(self.server.sandbox.now().astimezone(UTC), usegmt=True)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self._read_body(),
            raw_query=parts.query,
            client=(str(self.client_address[0]), int(self.client_address[1])),
        )
        sandbox._record(request)
        sandbox._opened(request)
        try:
            self._answer(sandbox, request)
        finally:
            sandbox._closed(request)

    def _answer(self, sandbox: SandboxServer, request: RecordedRequest) -> None:
        fault = sandbox.faults.take(request.path)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay or 0.0)
        if fault is not None and fault.kind in ("status", "429", "non_json"):
            response = sandbox.fault_response(fault)
        else:
            response = sandbox._safe_handle(request)
        if fault is not None and fault.kind == "drop_after":
            self.close_connection = True
            return
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


class SandboxServer(ABC):
    """A simulated vendor service on 127.0.0.1 (a free port), run in a daemon thread.

    Subclasses implement `handle` (routing and the vendor's behaviour) and `error_response`
    (the vendor's error body). Use as a context manager, or call `start()` / `stop()`. Set
    ``ssl_context`` (a server-side context holding the certificate) before `start()` to serve HTTPS;
    ``connections`` counts the connections accepted, ``failed_handshakes`` the TLS handshakes a client
    broke off (a certificate it did not trust).
    """

    def __init__(self) -> None:
        self.ssl_context: ssl.SSLContext | None = None
        self.connections = 0
        self.failed_handshakes = 0
        self.faults = Faults()
        self.errors: list[BaseException] = []
        self._requests: list[RecordedRequest] = []
        self._open: dict[int, RecordedRequest] = {}  # received, not answered yet (by id of the request)
        self._times: dict[int, tuple[float, float | None]] = {}  # id of a request → received, answered (monotonic)
        self._requests_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} is already running at {self.url}")
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with httpd.connections_lock:
            connections = list(httpd.open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def scheme(self) -> str:
        return "http" if self.ssl_context is None else "https"

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321`` (``https://`` with TLS)."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def now(self) -> datetime:
        """The service's current time (aware UTC), as its `Date` header says it."""
        return datetime.now(UTC)

    # -- request log -----------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._requests_lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()
            self._times = {key: times for key, times in self._times.items() if key in self._open}

    @property
    def open_requests(self) -> list[RecordedRequest]:
        """The requests received whose answer has not been written yet (sleeping in a `slow` fault,
        being handled, or being answered), oldest first: what a client killed now had in flight here."""
        with self._requests_lock:
            return list(self._open.values())

    def _record(self, request: RecordedRequest) -> None:
        with self._requests_lock:
            self._requests.append(request)

    def in_flight_at(self, moment: float) -> list[RecordedRequest]:
        """The requests received before `moment` (a `time.monotonic()` reading) and not answered by then:
        what a client killed at that moment had sent here without seeing the answer."""
        with self._requests_lock:
            return [r for r in self._requests if (times := self._times.get(id(r))) is not None
                    and times[0] <= moment and (times[1] is None or times[1] > moment)]

    def _opened(self, request: RecordedRequest) -> None:
        with self._requests_lock:
            self._open[id(request)] = request
            self._times[id(request)] = (time.monotonic(), None)

    def _closed(self, request: RecordedRequest) -> None:
        answered = time.monotonic()
        with self._requests_lock:
            self._open.pop(id(request), None)
            self._times[id(request)] = (self._times[id(request)][0], answered)

    # -- responses -------------------------------------------------------------------------
    @abstractmethod
    def handle(self, request: RecordedRequest) -> Response:
        """The vendor's answer to a request (faults already applied)."""

    @abstractmethod
    def error_response(self, status: int, headers: list[tuple[str, str]] | None = None) -> Response:
        """The vendor's generic error answer for ``status`` (used by faults and unexpected errors)."""

    def non_json_response(self, status: int) -> Response:
        """An HTML page where JSON was expected, like a host's bot challenge."""
        headers = [("Content-Type", "text/html; charset=UTF-8"), ("SG-Captcha", "challenge")]
        return Response(status, _CAPTCHA_PAGE, headers)

    def fault_response(self, fault: Fault) -> Response:
        if fault.kind == "non_json":
            return self.non_json_response(fault.status or 200)
        retry_after = fault.retry_after_header
        headers = [("Retry-After", retry_after)] if retry_after is not None else []
        return self.error_response(fault.status or 500, headers)

    def _safe_handle(self, request: RecordedRequest) -> Response:
        try:
            return self.handle(request)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must surface in tests, not hang the client
            self.errors.append(exc)
            return self.error_response(500)
