"""One CA trust for every HTTPS client, decided from the loaded settings (`.env` included), and the store's clock."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector import config
from connector.config import ConfigError
from connector.sources.clock import StoreClock
from tests.certs import PrivateCA, make_ca


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> PrivateCA:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_in_dotenv_is_the_trust_of_every_client(variable: str, ca: PrivateCA, tmp_path: Path,
                                                            clean: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"{variable}={ca.ca}\n")
    trust = config.load(dotenv_path=env_file).trust
    assert (trust.path, trust.variable, trust.verify) == (str(ca.ca), variable, str(ca.ca))
    assert any(c["subject"] == ((("commonName", "connector test CA"),),) for c in trust.context().get_ca_certs())


def test_the_environment_wins_over_dotenv(ca: PrivateCA, tmp_path: Path, clean: pytest.MonkeyPatch) -> None:
    other = make_ca(tmp_path / "other")
    env_file = tmp_path / ".env"
    env_file.write_text(f"SSL_CERT_FILE={other.ca}\n")
    clean.setenv("SSL_CERT_FILE", str(ca.ca))
    assert config.load(dotenv_path=env_file).trust.path == str(ca.ca)


def test_requests_ca_bundle_comes_first_and_a_directory_is_taken(ca: PrivateCA, tmp_path: Path) -> None:
    trust = config.load({"SSL_CERT_FILE": str(tmp_path / "nowhere.pem"), "REQUESTS_CA_BUNDLE": str(ca.ca)}).trust
    assert trust.variable == "REQUESTS_CA_BUNDLE"
    directory = config.load({"SSL_CERT_DIR": str(ca.ca.parent)}).trust
    assert directory.verify == str(ca.ca.parent) and isinstance(directory.context(), ssl.SSLContext)


def test_nothing_set_is_certifis_bundle() -> None:
    trust = config.load({}).trust
    assert trust.path is None and trust.verify is True and trust.context().get_ca_certs()


@pytest.mark.parametrize(("variable", "make"), [
    ("SSL_CERT_FILE", lambda tmp: tmp / "missing.pem"),
    ("REQUESTS_CA_BUNDLE", lambda tmp: (tmp / "not.pem").write_text("not a certificate") and tmp / "not.pem"),
    ("SSL_CERT_DIR", lambda tmp: (tmp / "file.pem").write_text("x") and tmp / "file.pem"),
])
def test_a_ca_setting_that_is_not_pem_certificates_names_its_variable(variable: str, make: object,
                                                                       tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config.load({variable: str(make(tmp_path))})  # type: ignore[operator]
    assert info.value.variable == variable and "\n" not in str(info.value)


# -- the store's clock ---------------------------------------------------------------------------

T = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
LAST = T - timedelta(hours=1)  # where the last window ended


def test_a_future_dated_order_does_not_move_the_window_past_the_stores_date() -> None:
    clock = StoreClock()
    clock.answer({"Date": "Fri, 04 Dec 2026 03:00:00 GMT"})
    clock.answer({"Date": "Fri, 04 Dec 2026 03:00:09 GMT"})  # later answers of the scan do not count
    clock.modified(datetime(2027, 1, 1, tzinfo=UTC))  # an order stamped in the future by a bad import
    assert clock.end(LAST) == T


def test_a_date_header_ahead_of_the_stores_stamps_gives_way_to_the_newest_order() -> None:
    """A CDN's `Date` while the store's own clock is 13 minutes behind: the stamps tell the store's time."""
    clock = StoreClock()
    clock.answer({"Date": "Fri, 04 Dec 2026 03:00:00 GMT"})
    clock.modified(T - timedelta(minutes=14))
    clock.modified(T - timedelta(minutes=13))
    clock.modified(T - timedelta(minutes=20))
    assert clock.end(LAST) == T - timedelta(minutes=13)


def test_an_empty_window_stays_unless_the_stores_clock_went_back() -> None:
    clock = StoreClock()
    clock.answer({"Date": "Fri, 04 Dec 2026 03:00:00 GMT"})
    assert clock.end(LAST) == LAST
    assert clock.end(T + timedelta(minutes=15)) == T  # set back: follow it
    assert clock.end(None) == T  # the first window


def test_without_any_time_from_the_store_there_is_no_end() -> None:
    clock = StoreClock()
    clock.answer({})
    clock.answer({"Date": "not a date"})
    assert clock.end(None) is None and clock.skew is None
    assert clock.end(LAST) == LAST
    clock.modified(T)
    assert clock.end(LAST) == T


def test_skew_is_said_only_over_a_minute() -> None:
    behind, close = StoreClock(), StoreClock()
    behind.date, behind.host = datetime(2026, 12, 4, 3, 0, tzinfo=UTC), datetime(2026, 12, 4, 3, 13, 2, tzinfo=UTC)
    close.date, close.host = behind.date, behind.date + timedelta(seconds=59)
    assert behind.describe_skew() is not None and behind.describe_skew().startswith(  # type: ignore[union-attr]
        "the store's clock is 13 min 2 s behind this host's")
    assert close.describe_skew() is None
