"""HTTPS trust, the same for every client (the sources' requests, the destinations' httpx), and what a
certificate that does not verify means: a configuration error, said once, never retried.

Which authorities are trusted is decided once, from the loaded settings (`config.load`: the
environment and `.env`, real variables winning), so a CA bundle written in `.env` counts like an
exported one. The first of REQUESTS_CA_BUNDLE, SSL_CERT_FILE, CURL_CA_BUNDLE (a PEM file or a
directory of hashed certificates) and SSL_CERT_DIR (a directory) that is set replaces the default
store, as it does for requests and httpx; none set: certifi's bundle, their default.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import certifi

CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "SSL_CERT_DIR")
FIX = "REQUESTS_CA_BUNDLE or SSL_CERT_FILE"


@dataclass(frozen=True)
class Trust:
    """The certificate authorities HTTPS answers are verified against."""

    path: str | None = None  # a PEM bundle or a certificate directory; None: certifi's bundle
    variable: str | None = None  # the setting it came from

    @property
    def verify(self) -> str | bool:
        """requests' `verify=` (given per request, so the process environment cannot override it)."""
        return self.path or True

    def context(self) -> ssl.SSLContext:
        """httpx's `verify=`, and check's handshakes: the same authorities as `verify`. Raises ssl.SSLError
        or OSError for a file that is not PEM certificates."""
        if self.path is None:
            return ssl.create_default_context(cafile=certifi.where())
        if Path(self.path).is_dir():
            return ssl.create_default_context(capath=self.path)
        return ssl.create_default_context(cafile=self.path)

    def describe(self) -> str:
        return f"{self.variable}={self.path}" if self.path else "certifi's bundle"


def verification_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure inside a client's exception (requests wraps it in urllib3's
    errors, httpx in httpcore's), or None when the failure is something else."""
    stack: list[object] = [exc]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLCertVerificationError):
            return item
        stack.extend((item.__cause__, item.__context__, getattr(item, "reason", None), *item.args))
    return None


def failure(exc: BaseException, url: str, url_variable: str, trust: Trust) -> str | None:
    """One line naming the URL variable and the CA settings when `exc` is a certificate that did not verify."""
    error = verification_error(exc)
    if error is None:
        return None
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"  # never a query or user info: they may be secrets
    reason = error.verify_message or error.reason or "certificate verify failed"
    using = (f"{trust.describe()} is in use and does not hold the CA that signed it" if trust.path
             else f"set {FIX} (in the environment or .env) to the PEM bundle of the CA that signed it")
    return (f"the TLS certificate of {origin} did not verify ({reason}): a configuration error, not retried; "
            f"check {url_variable}, or {using}")


def handshake(url: str, trust: Trust, timeout: float) -> OSError | None:
    """A TLS handshake with an https:// URL's host, nothing sent over it: the error, or None (also for http://)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    try:
        with (socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout) as raw,
              trust.context().wrap_socket(raw, server_hostname=parts.hostname)):
            return None
    except OSError as exc:  # ssl.SSLError is one
        return exc
