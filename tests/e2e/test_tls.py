"""HTTPS with a private CA, for real: the sandboxes serve a certificate signed by a CA made for the test.

Without that CA a certificate failure is a configuration error (one line naming the URL variable and
the CA settings, one handshake, no retry); with REQUESTS_CA_BUNDLE or SSL_CERT_FILE written in `.env`
every client trusts it, the stores' and the destinations' alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from connector.sandbox import (
    BigCommerceSandbox,
    SandboxServer,
    SonarIDSandbox,
    WooCommerceSandbox,
    sample_bigcommerce_orders,
)
from connector.sandbox.demo import BC_HASH, BC_TOKEN, SONARID_KEY, WC_KEY, WC_SECRET
from tests.certs import PrivateCA, make_ca
from tests.e2e.conftest import Connector, Run
from tests.e2e.test_bigcommerce_to_sonarid import fresh
from tests.e2e.test_woocommerce_to_sonarid import one

S = TypeVar("S", bound=SandboxServer)

CA_VARIABLES = ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> PrivateCA:
    return make_ca(tmp_path_factory.mktemp("ca"))


def https(server: S, ca: PrivateCA) -> S:
    """The sandbox serving HTTPS with a certificate for 127.0.0.1 signed by the test's CA."""
    server.ssl_context = ca.server_context()
    return server.start()


@pytest.fixture
def wc_tls(ca: PrivateCA) -> Iterator[WooCommerceSandbox]:
    server = https(WooCommerceSandbox(WC_KEY, WC_SECRET), ca)
    yield server
    server.stop()
    assert server.errors == []


@pytest.fixture
def bc_tls(ca: PrivateCA) -> Iterator[BigCommerceSandbox]:
    server = https(BigCommerceSandbox(BC_HASH, BC_TOKEN), ca)
    yield server
    server.stop()
    assert server.errors == []


@pytest.fixture
def sonarid_tls(ca: PrivateCA) -> Iterator[SonarIDSandbox]:
    server = https(SonarIDSandbox(SONARID_KEY), ca)
    yield server
    server.stop()


def env_file(tmp: Path, **values: str) -> dict[str, str]:
    """A `.env` holding `values`, and the override that points the connector at it."""
    path = tmp / "tls.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return {"CONNECTOR_ENV_FILE": str(path)}


def lines_with(run: Run, text: str) -> list[str]:
    return [line for line in (run.out + run.err).splitlines() if text in line]


def test_a_store_certificate_that_does_not_verify_fails_the_poll_once_in_one_line(
        wc_tls: WooCommerceSandbox, sonarid: SonarIDSandbox, tmp_path: Path) -> None:
    connector = Connector(wc_tls, sonarid, tmp_path)
    wc_tls.add_order(one(1))
    run = connector("poll")
    assert run.code == 1
    [line] = [line for line in run.err.splitlines() if "did not verify" in line and " ERROR " in line]
    assert "WOOCOMMERCE_URL" in line and "REQUESTS_CA_BUNDLE or SSL_CERT_FILE" in line
    assert "retrying" not in run.err
    assert wc_tls.connections == 1 and wc_tls.failed_handshakes == 1  # one handshake, no retry
    assert wc_tls.requests == [] and connector.states() == {}


@pytest.mark.parametrize("variable", CA_VARIABLES)
def test_a_ca_bundle_written_in_dotenv_is_trusted_by_store_and_destination(
        variable: str, ca: PrivateCA, wc_tls: WooCommerceSandbox, sonarid_tls: SonarIDSandbox, tmp_path: Path) -> None:
    connector = Connector(wc_tls, sonarid_tls, tmp_path)
    order = wc_tls.add_order(one(2))
    run = connector("poll", **env_file(tmp_path, **{variable: str(ca.ca)}))
    assert run.code == 0, run.err
    assert connector.states() == {str(order["id"]): "delivered"}
    assert sonarid_tls.submissions_for(f"wc_{order['id']}") == 1
    assert wc_tls.failed_handshakes == 0 and sonarid_tls.failed_handshakes == 0


@pytest.mark.parametrize("variable", CA_VARIABLES)
def test_bigcommerce_over_https_with_the_ca_in_dotenv(variable: str, ca: PrivateCA, bc_tls: BigCommerceSandbox,
                                                     sonarid: SonarIDSandbox, tmp_path: Path) -> None:
    connector = Connector(None, sonarid, tmp_path, bc=bc_tls)
    order = bc_tls.add_order(fresh(sample_bigcommerce_orders(1, seed=3)[0], status_id=11))

    refused = connector("poll")
    assert refused.code == 1
    [line] = [line for line in refused.err.splitlines() if "did not verify" in line and " ERROR " in line]
    assert "BIGCOMMERCE_API_URL" in line and "REQUESTS_CA_BUNDLE or SSL_CERT_FILE" in line
    assert "retrying" not in refused.err
    assert bc_tls.connections == 1 and bc_tls.failed_handshakes == 1

    run = connector("poll", **env_file(tmp_path, **{variable: str(ca.ca)}))
    assert run.code == 0, run.err
    assert connector.states() == {str(order["id"]): "delivered"}


def test_a_destination_certificate_that_does_not_verify_pauses_it_and_keeps_the_rows(
        ca: PrivateCA, wc: WooCommerceSandbox, sonarid_tls: SonarIDSandbox, tmp_path: Path) -> None:
    connector = Connector(wc, sonarid_tls, tmp_path)
    connector.env["SONARID_CONCURRENCY"] = "1"
    ids = {str(wc.add_order(one(seed))["id"]) for seed in (3, 4, 5)}

    run = connector("poll")
    assert run.code == 1
    paused = lines_with(run, "did not verify")
    assert len([line for line in paused if line.startswith("PAUSED sonarid")]) == 1, run.err
    assert all("SONARID_URL" in line and "REQUESTS_CA_BUNDLE or SSL_CERT_FILE" in line for line in paused)
    assert sonarid_tls.connections == 1 and sonarid_tls.failed_handshakes == 1  # not retried, not tried again
    assert set(connector.states().values()) <= {"pending", "retrying"}  # queued, none dead

    fixed = connector("poll", **env_file(tmp_path, SSL_CERT_FILE=str(ca.ca)))
    assert fixed.code == 0, fixed.err
    assert connector.states() == {order_id: "delivered" for order_id in ids}


def test_check_says_a_certificate_failure_in_one_line_per_service(
        ca: PrivateCA, wc_tls: WooCommerceSandbox, sonarid_tls: SonarIDSandbox, tmp_path: Path) -> None:
    connector = Connector(wc_tls, sonarid_tls, tmp_path)
    run = connector("check")
    assert run.code == 2
    errors = [line for line in run.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, run.err
    assert "error: woocommerce:" in errors[0] and "WOOCOMMERCE_URL" in errors[0]
    assert "error: sonarid:" in errors[1] and "SONARID_URL" in errors[1]
    assert all("did not verify" in e and "REQUESTS_CA_BUNDLE or SSL_CERT_FILE" in e for e in errors)
    assert wc_tls.failed_handshakes == 1 and sonarid_tls.failed_handshakes == 1

    good = connector("check", **env_file(tmp_path, REQUESTS_CA_BUNDLE=str(ca.ca)))
    assert good.code == 0, good.err
    assert "ok sonarid: enabled" in good.out and "TLS certificate verified" in good.out
    assert sonarid_tls.requests == []  # a handshake only: check never sends an order


def test_a_ca_setting_that_is_not_a_file_stops_start_up_naming_it(wc: WooCommerceSandbox, sonarid: SonarIDSandbox,
                                                                  tmp_path: Path) -> None:
    run = Connector(wc, sonarid, tmp_path)("poll", **env_file(tmp_path, SSL_CERT_FILE=str(tmp_path / "missing.pem")))
    assert run.code == 2
    assert run.err.strip().startswith("error: SSL_CERT_FILE: expected the path of a PEM file of CA certificates")
    assert len(run.err.strip().splitlines()) == 1
