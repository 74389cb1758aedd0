"""systemd's notification protocol (sd_notify(3)), in the standard library.

One AF_UNIX datagram of newline-separated `KEY=VALUE` assignments to the socket named by
`$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). Without `$NOTIFY_SOCKET`
(not started by systemd with Type=notify) every call does nothing. The watchdog interval is
`$WATCHDOG_USEC`, meant for us only when `$WATCHDOG_PID` is unset or is our pid; systemd wants
`WATCHDOG=1` more often than that, so we ping at half of it.

A failed send never stops the service: it is logged once and the service goes on.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping

log = logging.getLogger("connector.notify")


def socket_address(value: str | None) -> str | bytes | None:
    """`$NOTIFY_SOCKET` as an address for `sendto`; None when unset or not a unix socket we can use."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    log.warning("NOTIFY_SOCKET=%r is not a unix socket path; systemd notifications are off", value)
    return None


def watchdog_interval(env: Mapping[str, str], pid: int) -> float | None:
    """Seconds between `WATCHDOG=1` pings (half of `$WATCHDOG_USEC`), or None when no watchdog is set for us."""
    usec, owner = env.get("WATCHDOG_USEC", "").strip(), env.get("WATCHDOG_PID", "").strip()
    if not usec:
        return None
    if owner and owner != str(pid):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number of microseconds; the watchdog is not pinged", usec)
        return None
    return value / 2_000_000 if value > 0 else None


class Notifier:
    """Tells systemd how the service is doing. A no-op outside systemd."""

    def __init__(self, env: Mapping[str, str] | None = None, *, pid: int | None = None) -> None:
        env = os.environ if env is None else env
        self.address = socket_address(env.get("NOTIFY_SOCKET"))
        self.watchdog_interval = watchdog_interval(env, os.getpid() if pid is None else pid)
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._failed = False
        self._stopping = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str) -> bool:
        """One datagram of `KEY=VALUE` lines; True when it was handed to systemd.

        After STOPPING=1 nothing more is sent: a job finishing during the shutdown must not
        replace the "stopping" status or ping a watchdog that systemd has already disarmed.
        """
        if self.address is None or not fields:
            return False
        message = "\n".join(f"{key}={_one_line(value)}" for key, value in fields.items()).encode()
        with self._lock:
            if self._stopping:
                return False
            self._stopping = "STOPPING" in fields
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.sendto(message, self.address)
            except OSError as exc:
                if not self._failed:
                    log.warning("could not notify systemd (%s); the service goes on without it", exc)
                self._failed = True
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send(READY="1", **({"STATUS": status} if status else {}))

    def stopping(self, status: str | None = None) -> bool:
        return self.send(STOPPING="1", **({"STATUS": status} if status else {}))

    def watchdog(self) -> bool:
        return self.send(WATCHDOG="1")

    def status(self, text: str) -> bool:
        return self.send(STATUS=text)

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


def _one_line(value: str) -> str:
    """A newline would start a new assignment: keep each value on one line."""
    return " ".join(str(value).splitlines())
