"""`check` (connector/check.py): one finding per subject, a problem naming the variable to fix, no secret shown."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector import config
from connector.check import (
    Finding,
    database,
    destinations,
    nothing_enabled,
    run_checks,
    sources,
)
from connector.sandbox import SonarIDSandbox, WooCommerceSandbox
from connector.sandbox.demo import SONARID_KEY, WC_KEY, WC_SECRET, sandbox_env
from connector.sources.base import retrying


@pytest.fixture
def wc() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox(WC_KEY, WC_SECRET) as store:
        yield store


@pytest.fixture
def sonarid() -> Iterator[SonarIDSandbox]:
    with SonarIDSandbox(SONARID_KEY) as server:
        yield server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the ledger's database ------------------------------------------------------------------------

def test_a_new_sqlite_file_will_be_created_and_an_existing_one_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    assert database(f"sqlite:///{path}") == Finding(True, "database", f"sqlite:///{path} (will be created)")
    assert not path.exists()  # check creates nothing
    path.write_bytes(b"")  # an empty file is an empty SQLite database
    assert database(f"sqlite:///{path}") == Finding(
        True, "database", f"sqlite:///{path} (schema not created yet: the first `run`, `poll` or `backfill` creates it)")


def test_database_problems_name_connector_database_url(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, not even a little" * 100)
    missing = tmp_path / "no" / "such" / "folder" / "ledger.db"
    findings = [database("not a url"), database(f"sqlite:///{junk}"), database(f"sqlite:///{missing}")]
    assert [f.ok for f in findings] == [False, False, False]
    assert findings[0].text == "CONNECTOR_DATABASE_URL is not a SQLAlchemy URL (not a url)"
    assert findings[1].text.startswith(f"cannot read {junk}: ") and findings[1].text.endswith("(check CONNECTOR_DATABASE_URL)")
    assert findings[2].text == (f"cannot create {missing}: {missing.parent} is not a writable directory "
                                "(check CONNECTOR_DATABASE_URL)")


def test_an_in_memory_ledger_is_allowed_with_a_warning_in_words() -> None:
    assert database("sqlite://") == Finding(True, "database", "sqlite:// (in memory: nothing survives a restart)")


def test_a_database_password_is_not_shown() -> None:
    finding = database(f"postgresql://app:pw-s3cret-value@127.0.0.1:{free_port()}/ledger")
    assert not finding.ok and "pw-s3cret-value" not in finding.text and "CONNECTOR_DATABASE_URL" in finding.text


# -- sources and destinations against the sandboxes -----------------------------------------------

def test_a_good_configuration_has_only_good_findings(wc: WooCommerceSandbox, sonarid: SonarIDSandbox,
                                                     tmp_path: Path) -> None:
    wc.add_order({"status": "processing", "currency": "USD", "total": "1.00"})
    findings = run_checks(config.load(sandbox_env(wc, sonarid, tmp_path / "ledger.db")))
    assert [(f.ok, f.warn, f.subject) for f in findings] == [(True, False, "database"), (True, False, "woocommerce"),
                                                            (True, False, "sonarid")]
    store = wc.url.split("://")[1]
    assert findings[1].text == f"WooCommerce {store}: 1 orders in processing,completed, newest #1001"
    assert findings[2].text.startswith(f"enabled, {sonarid.url} (no order sent")
    assert sonarid.requests == []  # check never sends to a destination


def test_refused_store_credentials_are_a_finding_without_the_secret(wc: WooCommerceSandbox, sonarid: SonarIDSandbox,
                                                                    tmp_path: Path) -> None:
    env = sandbox_env(wc, sonarid, tmp_path / "ledger.db") | {"WOOCOMMERCE_CONSUMER_SECRET": "cs_wrong_secret_4321"}
    [finding] = sources(config.load(env))
    assert not finding.ok and finding.subject == "woocommerce"
    assert "WOOCOMMERCE_CONSUMER" in finding.text and "cs_wrong_secret_4321" not in finding.text


def test_an_unreachable_store_names_its_url_variable(sonarid: SonarIDSandbox, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("connector.sources.woocommerce.retrying", lambda: retrying(multiplier=0.01, max_wait=0.02))
    env = sandbox_env(None, sonarid, tmp_path / "ledger.db") | {
        "WOOCOMMERCE_URL": f"http://127.0.0.1:{free_port()}", "WOOCOMMERCE_CONSUMER_KEY": WC_KEY,
        "WOOCOMMERCE_CONSUMER_SECRET": WC_SECRET}
    [finding] = sources(config.load(env))
    assert not finding.ok and "WOOCOMMERCE_URL" in finding.text and WC_SECRET not in finding.text


def test_a_store_clock_minutes_off_is_a_warning(sonarid: SonarIDSandbox, tmp_path: Path) -> None:
    with WooCommerceSandbox(WC_KEY, WC_SECRET, clock=lambda: datetime.now(UTC) + timedelta(minutes=7, seconds=30)) as wc:
        probe, skew = sources(config.load(sandbox_env(wc, sonarid, tmp_path / "ledger.db")))
    assert probe.ok and not probe.warn
    assert skew.ok and skew.warn and skew.subject == "woocommerce"
    assert skew.text.startswith("the store's clock is 7 min ") and " ahead of this host's" in skew.text


def test_nothing_enabled_says_what_turns_each_adapter_on(tmp_path: Path) -> None:
    settings = config.load({"CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}"})
    assert sources(settings) == [Finding(False, "sources", nothing_enabled("source"))]
    assert destinations(settings) == [Finding(False, "destinations", nothing_enabled("destination"))]
    assert "WOOCOMMERCE_URL" in nothing_enabled("source") and "SONARID_API_KEY" in nothing_enabled("destination")


def test_a_destination_that_does_not_answer_is_still_enabled_with_a_warning(wc: WooCommerceSandbox,
                                                                             tmp_path: Path) -> None:
    settings = config.load({"CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}",
                            "SONARID_URL": f"https://127.0.0.1:{free_port()}", "SONARID_API_KEY": SONARID_KEY})
    [finding] = destinations(settings)
    assert finding.ok and finding.warn and "no TLS handshake: " in finding.text and SONARID_KEY not in finding.text
