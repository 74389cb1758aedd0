"""What every destination is: a pure `build` and an httpx `send`, with its vendor's answers read here."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from connector import USER_AGENT, tls, wire
from connector.orders import Order


class Skip(Exception):
    """This order is not for this destination (or cannot satisfy its required fields); says why."""

    @property
    def reason(self) -> str:
        return str(self)


class Destination(ABC):
    name: ClassVar[str]  # the name its module's SPEC registers (connector.registry)
    #: it carries the customer's loyalty membership (`Order.loyalty`): its deliveries wait for the look-up (VOYADO_WAIT)
    uses_loyalty: ClassVar[bool] = False
    trust: tls.Trust = tls.Trust()  # set by `build_destinations` from the settings

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    @property
    def credential_variable(self) -> str:
        """Named in the one loud error when the vendor refuses our credentials (from its SPEC)."""
        from connector.registry import spec

        return spec(self.name, "destination").credentials

    @property
    def url_variable(self) -> str:
        """Named when its TLS certificate does not verify (from its SPEC)."""
        from connector.registry import spec

        return spec(self.name, "destination").location

    # -- pure --------------------------------------------------------------------------------

    @abstractmethod
    def build(self, order: Order) -> dict[str, Any]:
        """The vendor's request body for `order`, in the vendor document's field order. Raises `Skip`."""

    # -- I/O ---------------------------------------------------------------------------------

    @abstractmethod
    def endpoint(self) -> str:
        """The request URL (may carry a credential; it is redacted wherever it is shown)."""

    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}

    def client(self, timeout: float) -> httpx.Client:
        return httpx.Client(timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)), headers=self.headers(),
                            follow_redirects=False, verify=self.trust.context())

    def send(self, client: httpx.Client, payload: dict[str, Any]) -> httpx.Response:
        return client.post(self.endpoint(), content=wire.encode(payload))

    def read(self, response: httpx.Response) -> Answer:
        """The vendor's answer, parsed once: override to find a reference or to call an answer accepted or not."""
        return Answer(message=words(response, *json_body(response)))


@dataclass(frozen=True)
class Answer:
    """What a destination's answer says, beyond its status code."""

    #: None: the status code decides (`outcomes.classify_status`); False: a 2xx that did not create the order;
    #: True: a non-2xx that is a success (e.g. 409 "already exists")
    accepted: bool | None = None
    reference: str | None = None  # the vendor's id for what we sent, from a 2xx answer
    message: str = ""  # the vendor's own words, shown for an answer that is not a success


def json_body(response: httpx.Response) -> tuple[bool, Any]:
    """(True, the JSON body), or (False, None) when the answer is not JSON."""
    try:
        return True, response.json()
    except ValueError:
        return False, None


def words(response: httpx.Response, is_json: bool, body: Any) -> str:
    """The vendor's own words from an error answer (`json_body`'s result)."""
    if not is_json:
        text = response.text.strip()
        return text[:300] if text else response.reason_phrase
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "message", "detail", "details") if body.get(k)]
        if parts:
            return ": ".join(parts)
    return str(body)[:300]
