from __future__ import annotations

from pathlib import Path

import pytest

from connector import config
from connector.config import ConfigError
from connector.redaction import redact

WC = {"WOOCOMMERCE_URL": "https://shop.example", "WOOCOMMERCE_CONSUMER_KEY": "ck_live_abcdef123",
      "WOOCOMMERCE_CONSUMER_SECRET": "cs_live_topsecret987"}


def test_nothing_set_means_nothing_enabled() -> None:
    settings = config.load({})
    assert settings.sources == [] and settings.destinations == []
    assert settings.poll_interval == 60 and settings.lookback == 600 and settings.concurrency == 4


def test_the_retry_horizon_defaults_to_three_days_and_max_attempts_is_still_read() -> None:
    assert config.load({}).retry_for == 3 * 86400 and config.load({}).max_attempts == 8
    settings = config.load({"CONNECTOR_RETRY_FOR": "3600", "CONNECTOR_MAX_ATTEMPTS": "3"})
    assert (settings.retry_for, settings.max_attempts) == (3600, 3)
    assert config.load({"CONNECTOR_DATABASE_URL": "sqlite:////var/lib/c.db?timeout=5"}).database_url.endswith("?timeout=5")


def test_enabled_by_credentials() -> None:
    settings = config.load({**WC, "SONARID_API_KEY": "sk_live_zzzzzz"})
    assert settings.sources == ["woocommerce"] and settings.destinations == ["sonarid"]
    assert settings.woocommerce and settings.woocommerce.statuses == ("processing", "completed")


@pytest.mark.parametrize(("env", "variable"), [
    ({"CONNECTOR_POLL_INTERVAL": "soon"}, "CONNECTOR_POLL_INTERVAL"),
    ({"CONNECTOR_MAX_ATTEMPTS": "0"}, "CONNECTOR_MAX_ATTEMPTS"),
    ({"CONNECTOR_RETRY_FOR": "3 days"}, "CONNECTOR_RETRY_FOR"),
    ({"CONNECTOR_RETRY_FOR": "0"}, "CONNECTOR_RETRY_FOR"),
    ({"CONNECTOR_DATABASE_URL": "sqlite:////var/lib/c.db?timeout=soon"}, "CONNECTOR_DATABASE_URL"),
    ({"CONNECTOR_LOG_FORMAT": "xml"}, "CONNECTOR_LOG_FORMAT"),
    ({"SONARID_API_KEY": "sk", "SONARID_URL": "sonarid.com"}, "SONARID_URL"),
    ({**WC, "WOOCOMMERCE_URL": "ftp://x"}, "WOOCOMMERCE_URL"),
    ({"WOOCOMMERCE_CONSUMER_KEY": "ck_1234"}, "WOOCOMMERCE_CONSUMER_SECRET"),
    ({**WC, "WOOCOMMERCE_CONSUMER_KEY": "abc12345"}, "WOOCOMMERCE_CONSUMER_KEY"),
    ({"BIGCOMMERCE_STORE_HASH": "abc", "BIGCOMMERCE_ACCESS_TOKEN": "t0k3n123", "BIGCOMMERCE_STATUS_IDS": "11,x"},
     "BIGCOMMERCE_STATUS_IDS"),
])
def test_a_bad_value_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(env)
    assert info.value.variable == variable
    assert str(info.value).startswith(variable + ":")
    assert "\n" not in str(info.value)


def test_secrets_never_show_in_a_repr_or_error() -> None:
    settings = config.load({**WC, "WOOCOMMERCE_URL": "https://shop.example"})
    assert "cs_live_topsecret987" not in repr(settings)
    assert redact("GET https://shop.example/wp-json/wc/v3/orders?consumer_key=ck_live_abcdef123&"
                  "consumer_secret=cs_live_topsecret987&page=2") == (
        "GET https://shop.example/wp-json/wc/v3/orders?consumer_key=***&consumer_secret=***&page=2")
    assert "cs_live_topsecret987" not in redact("failed with cs_live_topsecret987 in it")


def test_dotenv_never_overrides_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CONNECTOR_POLL_INTERVAL=30\nCONNECTOR_LOOKBACK=120\n")
    monkeypatch.setenv("CONNECTOR_POLL_INTERVAL", "90")
    settings = config.load(dotenv_path=env_file)
    assert settings.poll_interval == 90 and settings.lookback == 120


def test_database_follows_state_directory() -> None:
    assert config.load({"STATE_DIRECTORY": "/var/lib/connector/acme"}).database_url == \
        "sqlite:////var/lib/connector/acme/connector.db"


def test_passwords_in_urls_and_auth_headers_are_masked() -> None:
    assert redact("postgresql://connector:hunter2hunter2@db:5432/orders") == "postgresql://connector:***@db:5432/orders"
    assert redact("Authorization: Bearer sk_live_abcdefgh") == "Authorization: Bearer ***"
    assert redact("https://s.example/createorder.wws?action=CREATE&authentication=c29waGlvOm9yZGVycw==") == (
        "https://s.example/createorder.wws?action=CREATE&authentication=***")
