"""Every adapter declares itself in one SPEC; the registry is the one list naming them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from connector import check, config, registry
from connector.adapters import ConfigError, Reader, Secret, Spec
from connector.destinations import build_destinations
from connector.destinations.base import Destination
from connector.orders import Order
from connector.preview import render_payload
from tests.conftest import example


@dataclass(frozen=True)
class EchoSettings:
    token: Secret
    url: str = "https://echo.invalid"


def echo_from_env(r: Reader) -> EchoSettings | None:
    token = r.secret("ECHO_TOKEN")
    if token is None:
        return None
    if len(token) < 4:
        raise ConfigError("ECHO_TOKEN", "a token of 4 characters or more")
    return EchoSettings(token=token, url=r.url("ECHO_URL", "https://echo.invalid") or "https://echo.invalid")


class Echo(Destination):
    name = "echo"

    def build(self, order: Order) -> dict[str, Any]:
        return {"id": order.platform_key, "shipping": order.fulfilment, "platform": order.platform}

    def endpoint(self) -> str:
        return f"{self.settings.url}/orders"


ECHO = Spec(kind="destination", name="echo", title="Echo", adapter=Echo, from_env=echo_from_env,
            enable_variables=("ECHO_TOKEN",), credential_variables=("ECHO_TOKEN",), url_variables=("ECHO_URL",),
            preview_settings=lambda: EchoSettings(token=Secret("preview")))


@pytest.fixture
def with_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    """What adding a destination takes: its module (above) and its line in the registry."""
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, ECHO))


def test_a_new_destination_is_one_module_and_one_registry_line(with_echo: None) -> None:
    settings = config.load({"ECHO_TOKEN": "echo-token", "ECHO_CONCURRENCY": "2"})
    assert settings.destinations == ["echo"] and settings.concurrency_for("echo") == 2
    [(name, echo)] = build_destinations(settings).items()
    assert name == "echo" and isinstance(echo, Echo)
    assert (echo.credential_variable, echo.url_variable) == ("ECHO_TOKEN", "ECHO_URL")
    assert "ECHO_TOKEN" in check.nothing_enabled("destination")
    with pytest.raises(ConfigError, match="^ECHO_TOKEN: "):
        config.load({"ECHO_TOKEN": "abc"})
    payload = render_payload(example("docs_v3_order_727_processing_paid.json"), "woocommerce", "echo", config.load({}))
    assert payload == {"id": "wc_727", "shipping": "unfulfilled", "platform": "woocommerce"}


def test_what_turns_adapters_on_is_said_from_their_specs() -> None:
    assert check.nothing_enabled("destination") == (
        "no destination is enabled: set SONARID_API_KEY, or ORDERPROTECTION_API_TOKEN, or "
        "SOPHIO_STORE_URL, SOPHIO_API_KEY and SOPHIO_API_SECRET")
    assert check.nothing_enabled("source") == (
        "no source is enabled: set WOOCOMMERCE_URL, WOOCOMMERCE_CONSUMER_KEY and WOOCOMMERCE_CONSUMER_SECRET, "
        "or BIGCOMMERCE_STORE_HASH and BIGCOMMERCE_ACCESS_TOKEN, "
        "or SOPOST_API_URL, SOPOST_API_KEY, SOPOST_API_SECRET and SOPOST_WEBHOOK_SECRET")


def test_each_adapter_is_off_until_its_variables_are_set() -> None:
    names = [spec.name for spec in registry.REGISTRY]
    assert len(names) == len(set(names))
    assert all(spec.from_env(Reader({})) is None for spec in registry.REGISTRY)
    assert config.SOURCES == ("woocommerce", "bigcommerce", "sopost")
    assert config.DESTINATIONS == ("sonarid", "orderprotection", "sophio")


def test_the_order_key_prefix_and_platform_are_the_sources_declared_facts() -> None:
    order = Order.model_validate({
        "source": "bigcommerce", "store": "abc123", "id": "120", "number": "120", "status": "awaiting_fulfillment",
        "status_id": 11, "created_at": "2024-01-01T00:00:00Z", "modified_at": "2024-01-01T00:00:00Z",
        "currency": "USD", "total": "1", "subtotal": "1"})
    assert (order.platform_key, order.platform, order.fulfilment) == ("bc_120", "bigcommerce", "unfulfilled")
    stranger = order.model_copy(update={"source": "nosuch"})  # a source this version does not have
    assert (stranger.platform_key, stranger.platform, stranger.fulfilment) == ("nosuch_120", "", "other")
    assert "fulfilment" not in order.model_dump() and "platform_key" not in order.model_dump()  # snapshots unchanged
