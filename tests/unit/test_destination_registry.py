"""Each destination is on when its credentials are set, with its own concurrency limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector import config
from connector.app import App
from connector.config import ConfigError
from connector.destinations import build_destinations
from connector.destinations.orderprotection import OrderProtection
from connector.destinations.sonarid import SonarID
from connector.destinations.sophio import Sophio

ALL = {
    "SONARID_API_KEY": "sk_test_registry",
    "ORDERPROTECTION_API_TOKEN": "op_test_registry",
    "ORDERPROTECTION_URL": "https://127.0.0.1:8443",
    "SOPHIO_STORE_URL": "https://acme.sophio.example",
    "SOPHIO_API_KEY": "sophio_registry_key",
    "SOPHIO_API_SECRET": "sophio_registry_secret",
}


def test_all_three_are_built_from_their_credentials() -> None:
    destinations = build_destinations(config.load(ALL))
    assert {name: type(d) for name, d in destinations.items()} == {
        "sonarid": SonarID, "orderprotection": OrderProtection, "sophio": Sophio}
    assert destinations["orderprotection"].endpoint() == "https://127.0.0.1:8443/v1/orders"
    assert destinations["orderprotection"].headers()["Authorization"] == "Bearer op_test_registry"
    assert destinations["sophio"].endpoint().startswith("https://acme.sophio.example/createorder.wws?action=CREATE&")


@pytest.mark.parametrize(("name", "prefix"), [("orderprotection", "ORDERPROTECTION_"), ("sophio", "SOPHIO_")])
def test_a_destination_without_credentials_is_off(name: str, prefix: str) -> None:
    destinations = build_destinations(config.load({k: v for k, v in ALL.items() if not k.startswith(prefix)}))
    assert name not in destinations and len(destinations) == 2


def test_half_a_sophio_configuration_names_what_is_missing() -> None:
    with pytest.raises(ConfigError, match="SOPHIO_API_SECRET"):
        config.load({k: v for k, v in ALL.items() if k != "SOPHIO_API_SECRET"})


def test_each_destination_has_its_own_concurrency(tmp_path: Path) -> None:
    settings = config.load(ALL | {"CONNECTOR_CONCURRENCY": "3", "ORDERPROTECTION_CONCURRENCY": "1",
                                  "SOPHIO_CONCURRENCY": "8",
                                  "CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    app = App(settings)
    try:
        assert [app.deliverer.concurrency(name) for name in ("sonarid", "orderprotection", "sophio")] == [3, 1, 8]
    finally:
        app.close()
