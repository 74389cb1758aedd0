"""WooCommerce REST authentication (`WC_REST_Authentication`) as a plain-HTTP store applies it.

OAuth 1.0a one-legged: parameters in the query string or an ``Authorization: OAuth`` header,
HMAC-SHA1/HMAC-SHA256 with key ``consumer_secret + "&"``, timestamp within 15 minutes, single-use
nonces. The signature base string is built exactly as the official Python client builds it
(`woocommerce/oauth.py`), so `woocommerce.API` authenticates. HTTP Basic and the query-string
``consumer_key``/``consumer_secret`` pair (which real WooCommerce only honours over HTTPS) are
accepted too unless ``allow_basic`` is off.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

OAUTH_PARAMS = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
TIMESTAMP_WINDOW_SECONDS = 15 * 60
_HASHES: dict[str, Callable[..., Any]] = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}
_HEADER_PARAM = re.compile(r'(oauth_[a-z_-]*)=(?:"([^"]*)"|([^,]*))')


@dataclass(frozen=True)
class AuthResult:
    """``authenticated`` when valid credentials came; ``error`` when credentials came but were rejected."""

    authenticated: bool
    error: str | None = None


def _normalize(text: str) -> str:
    return quote(unquote(text)).replace("%", "%25")


def _sorted_params(params: Mapping[str, str]) -> list[tuple[str, str]]:
    """Keys sorted by their name before any ``[``, array members kept in arrival order (the client's order)."""
    ordered: list[tuple[str, str]] = []
    for base in sorted({key.split("[")[0] for key in params}):
        ordered.extend((key, value) for key, value in params.items() if key == base or key.startswith(base + "["))
    return ordered


def oauth_signature(
    method: str, base_url: str, params: Mapping[str, str], consumer_secret: str, signature_method: str
) -> str:
    """The base64 OAuth 1.0a signature of a request (``params`` without ``oauth_signature``)."""
    pairs = [f"{_normalize(key)}%3D{_normalize(value)}" for key, value in _sorted_params(params)]
    string_to_sign = f"{method.upper()}&{quote(base_url, safe='')}&{'%26'.join(pairs)}"
    digest = hmac.new(f"{consumer_secret}&".encode(), string_to_sign.encode(), _HASHES[signature_method]).digest()
    return base64.b64encode(digest).decode()


def parse_oauth_header(header: str) -> dict[str, str]:
    """The ``oauth_*`` parameters of an ``Authorization: OAuth ...`` header (``realm`` ignored)."""
    header = header.strip()
    if not header.startswith("OAuth "):
        return {}
    return {name: unquote(quoted or bare) for name, quoted, bare in _HEADER_PARAM.findall(header)}


def _php_int(text: str) -> int:
    match = re.match(r"\s*[+-]?\d+", text)
    return int(match.group()) if match else 0


class WooCommerceAuth:
    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        allow_basic: bool = True,
        time_source: Callable[[], float] = time.time,
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.allow_basic = allow_basic
        self.time_source = time_source
        self._nonces: dict[str, int] = {}
        self._lock = threading.Lock()

    def authenticate(
        self, method: str, base_url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> AuthResult:
        """``params``: the query string, one value per key (the last one, as PHP keeps it).

        ``headers`` must have lower-case names. ``base_url`` is the request URL without its query.
        """
        if self.allow_basic:
            key, secret = self._basic_credentials(params, headers)
            if key and secret:
                if key != self.consumer_key:
                    return AuthResult(False)
                if not hmac.compare_digest(secret.encode(), self.consumer_secret.encode()):
                    return AuthResult(False, "Consumer secret is invalid.")
                return AuthResult(True)
        return self._oauth(method, base_url, params, headers)

    @staticmethod
    def _basic_credentials(params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[str, str]:
        if params.get("consumer_key") and params.get("consumer_secret"):
            return params["consumer_key"], params["consumer_secret"]
        authorization = headers.get("authorization", "")
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return "", ""
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        key, _, secret = decoded.partition(":")
        return key, secret

    def _oauth(self, method: str, base_url: str, query: Mapping[str, str], headers: Mapping[str, str]) -> AuthResult:
        params = dict(query)
        params.update(parse_oauth_header(headers.get("authorization", "")))
        if not all(params.get(name) for name in OAUTH_PARAMS):
            return AuthResult(False)
        if params["oauth_consumer_key"] != self.consumer_key:
            return AuthResult(False, "Consumer key is invalid.")
        provided = unquote(params.pop("oauth_signature").replace(" ", "+"))
        signature_method = params["oauth_signature_method"]
        if signature_method not in _HASHES:
            return AuthResult(False, "Invalid signature - signature method is invalid.")
        expected = oauth_signature(method, base_url, params, self.consumer_secret, signature_method)
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            return AuthResult(False, "Invalid signature - provided signature does not match.")
        return self._check_timestamp_and_nonce(_php_int(params["oauth_timestamp"]), params["oauth_nonce"])

    def _check_timestamp_and_nonce(self, timestamp: int, nonce: str) -> AuthResult:
        now = int(self.time_source())
        if abs(timestamp - now) > TIMESTAMP_WINDOW_SECONDS:
            return AuthResult(False, "Invalid timestamp.")
        with self._lock:
            self._nonces = {n: t for n, t in self._nonces.items() if t >= now - TIMESTAMP_WINDOW_SECONDS}
            if nonce in self._nonces:
                return AuthResult(False, "Invalid nonce - nonce has already been used.")
            self._nonces[nonce] = timestamp
        return AuthResult(True)
