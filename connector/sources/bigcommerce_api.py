"""The BigCommerce V2 REST API as the source uses it: one GET with all the I/O policy.

Auth and the HTTP session come from the official `bigcommerce` package's `OAuthConnection`
(`X-Auth-Token`, `Accept: application/json`, one `requests.Session`); `Content-Type: application/json`
is added because the Orders V2 spec marks it required on GET /orders/{id}/products (and `Accept` on
every path), although those GETs carry no body. Its resource helpers are
not used: they turn a 204 into a bogus item, spend an extra request per listing and drop line
items past 50 (shared/research/bigcommerce.md §7). Here:

- the base URL is `BIGCOMMERCE_API_URL` taken whole, scheme, port and path included (the package
  hard-codes `https://` + host), with `/stores/{hash}/v2/` after it;
- a User-Agent naming the connector and a real (connect, read) timeout instead of the package's 7 s;
- 204 is "no data" (None), never `{}`;
- every answer's rate-limit headers feed `RateLimit`, which pauses before the quota is spent;
- 429 waits for the window's reset (or `X-Retry-After` / `Retry-After`; exponential backoff when
  nothing says), 408/425/5xx and dropped connections are retried with backoff (`retrying()`),
  401/403 are `SourceAuthError`, 404 is `NotFound`, other 4xx are `SourceError`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import requests
import tenacity

from connector import USER_AGENT, tls
from connector.outcomes import Outcome, classify_exception, classify_status, retry_after
from connector.sources.base import SourceAuthError, SourceConfigError, SourceError, TransientSourceError, retrying
from connector.sources.clock import StoreClock
from connector.sources.ratelimit import RateLimit

if TYPE_CHECKING:
    from connector.sources.bigcommerce import BigCommerceSettings

log = logging.getLogger("connector.sources.bigcommerce")

Params = Mapping[str, str | int]


class NotFound(SourceError):
    """404: the store hash is wrong, or the order is gone (archived) since it was listed."""


class RateLimited(TransientSourceError):
    """429: the store's quota is spent. It says nothing about the order being read."""


@functools.cache
def _connection_class() -> type[Any]:
    """`Connection`, built on first use: the `bigcommerce` package imports `jwt` and `cryptography` (~0.1 s),
    which a process that reads no BigCommerce store (`--help`, `status`, a WooCommerce-only `poll`) never needs."""
    from bigcommerce.connection import OAuthConnection

    class Connection(OAuthConnection):  # type: ignore[misc]  # the package has no type hints
        """`OAuthConnection` with the base URL taken whole (`https://api.bigcommerce.com`, `http://127.0.0.1:8080`)."""

        def __init__(self, settings: BigCommerceSettings, *, timeout: float) -> None:
            base = settings.api_url.rstrip("/")
            super().__init__(settings.client_id, settings.store_hash, str(settings.access_token),
                             host=base.split("://", 1)[-1].split("/", 1)[0])
            self.base_url = base
            self.timeout = (min(10.0, timeout), timeout)
            if not settings.client_id:  # X-Auth-Client is no longer required; never send it empty
                self._session.headers.pop("X-Auth-Client", None)
            self._session.headers["User-Agent"] = USER_AGENT
            self._session.headers["Content-Type"] = "application/json"  # required by the spec on /orders/{id}/products

        def full_path(self, url: str) -> str:
            return f"{self.base_url}{self.api_path.format(self.store_hash, url.lstrip('/'))}"

        @property
        def session(self) -> requests.Session:
            session: requests.Session = self._session
            return session

    return Connection


def connect(settings: BigCommerceSettings, *, timeout: float) -> Any:
    """An `OAuthConnection` with the base URL taken whole (`https://api.bigcommerce.com`, `http://127.0.0.1:8080`)."""
    return _connection_class()(settings, timeout=timeout)


class StoreAPI:
    def __init__(self, settings: BigCommerceSettings, *, timeout: float = 30.0, headroom: float = 0.1,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 retry: Callable[[], tenacity.Retrying] = retrying, trust: tls.Trust | None = None) -> None:
        self.connection = connect(settings, timeout=timeout)
        self.api_url = settings.api_url
        self.trust = trust or tls.Trust()
        self.clock = StoreClock()  # the store's time as the answers since the last reset show it
        self.limit = RateLimit(headroom=headroom, clock=clock)
        self.sleep = sleep
        self.retry = retry
        self.sent = 0  # requests sent, answered or not
        self.rate_limited = 0  # 429 answers received

    def get(self, path: str, params: Params | None = None, *,
            retry: Callable[[], tenacity.Retrying] | None = None) -> Any | None:
        """The JSON body of GET /stores/{hash}/v2/{path}; None on 204. `retry` replaces the policy for this call."""
        url = self.connection.full_path(path)

        def once() -> Any | None:
            self.limit.wait(self.sleep)
            self.sent += 1
            try:
                response = self.connection.session.get(url, params=dict(params or {}), timeout=self.connection.timeout,
                                                       verify=self.trust.verify)
            except requests.RequestException as exc:
                if classify_exception(exc) is Outcome.CONFIG:  # not retried
                    line = tls.failure(exc, self.api_url, "BIGCOMMERCE_API_URL", self.trust)
                    raise SourceConfigError(f"BigCommerce: {line}") from None
                raise TransientSourceError(f"BigCommerce {path}: {type(exc).__name__}: {exc}") from None
            self.limit.observe(response.headers)
            self.clock.answer(response.headers)
            return self._body(path, response)

        return (retry or self.retry)()(once)

    def close(self) -> None:
        self.connection.session.close()

    def _body(self, path: str, response: requests.Response) -> Any | None:
        status = response.status_code
        outcome = classify_status(status)
        if status == 204 or (status == 200 and not response.content):
            return None
        if status == 429:
            self.rate_limited += 1
            raise RateLimited(f"BigCommerce {path} answered 429 (the store's API quota is spent)",
                              retry_after=retry_after(status, response.headers))
        if status == 401:
            raise SourceAuthError(f"BigCommerce refused the access token (401: {_message(response)}); check "
                                  "BIGCOMMERCE_ACCESS_TOKEN and BIGCOMMERCE_STORE_HASH")
        if outcome is Outcome.AUTH:
            raise SourceAuthError(f"BigCommerce refused {path} ({status}: {_message(response)}): the API account lacks "
                                  "the scope for it (orders need Orders: read-only); check BIGCOMMERCE_ACCESS_TOKEN")
        if outcome is Outcome.TRANSIENT:
            raise TransientSourceError(f"BigCommerce {path} answered {status}: {_message(response)}",
                                       retry_after=retry_after(status, response.headers))
        if status == 404:
            raise NotFound(f"BigCommerce {path} answered 404: {_message(response)}")
        if status >= 300:
            raise SourceError(f"BigCommerce {path} answered {status}: {_message(response)}")
        try:
            return response.json()
        except ValueError:
            raise TransientSourceError(
                f"BigCommerce {path} answered {status} with {response.headers.get('Content-Type') or 'no content type'}, "
                "not JSON", retry_after=retry_after(status, response.headers)) from None


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "").strip()[:200]
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("title") or body)[:300]
    return str(body)[:300]
