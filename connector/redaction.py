"""Keeps secrets out of everything a person or a file can see.

Two mechanisms, used together:
- every configured secret value is registered here and replaced wherever it appears;
- query parameters that carry credentials by name (WooCommerce's query-string auth, OAuth
  signatures, Sophio's `authentication`) are masked in any URL-looking text.
A logging filter applies both to every log record.
"""

from __future__ import annotations

import base64
import logging
import re
import threading

MASK = "***"
SECRET_PARAMS = (
    "consumer_key",
    "consumer_secret",
    "authentication",
    "oauth_signature",
    "oauth_consumer_key",
    "access_token",
    "api_key",
    "token",
)
_PARAM_RE = re.compile(
    r"(?i)(?P<key>\b(?:" + "|".join(SECRET_PARAMS) + r"))=(?P<value>[^&\s'\"<>]+)"
)
_USERINFO_RE = re.compile(r"(?P<head>://[^:/@\s]+:)(?P<password>[^@\s/]+)@")
_HEADER_RE = re.compile(r"(?i)\b(authorization|x-auth-token|x-api-key)(['\"]?\s*[:=]\s*['\"]?)(bearer |basic )?([^\s'\",}]+)")

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so that `redact` hides it (and its base64 and URL forms)."""
    if not value or len(value) < 4:
        return
    forms = {value}
    forms.add(base64.b64encode(value.encode()).decode())
    with _lock:
        _secrets.update(forms)


def register_pair(key: str | None, secret: str | None) -> None:
    """Register a key:secret pair whose base64 is itself a credential (Basic, Sophio)."""
    register_secret(key)
    register_secret(secret)
    if key and secret:
        register_secret(base64.b64encode(f"{key}:{secret}".encode()).decode())


def redact(text: object) -> str:
    s = str(text)
    s = _PARAM_RE.sub(lambda m: f"{m.group('key')}={MASK}", s)
    s = _USERINFO_RE.sub(lambda m: f"{m.group('head')}{MASK}@", s)
    s = _HEADER_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}{MASK}", s)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in s:
            s = s.replace(secret, MASK)
        quoted = secret.replace("=", "%3D").replace("+", "%2B").replace("/", "%2F")
        if quoted != secret and quoted in s:
            s = s.replace(quoted, MASK)
    return s


class RedactingFilter(logging.Filter):
    """Formats the record's message once, redacted, so no handler can leak a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not kill logging
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
