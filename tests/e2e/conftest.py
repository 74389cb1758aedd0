"""End-to-end fixtures: the sandbox servers on 127.0.0.1 and the CLI run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from connector.ledger import Ledger
from connector.sandbox import BigCommerceSandbox, SonarIDSandbox, WooCommerceSandbox
from connector.sandbox.demo import BC_HASH, BC_TOKEN, SONARID_KEY, WC_KEY, WC_SECRET, sandbox_env

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    code: int
    out: str
    err: str


class Connector:
    """`python -m connector …` against the sandbox, with its own ledger file."""

    def __init__(self, wc: WooCommerceSandbox | None, sonarid: SonarIDSandbox, tmp: Path,
                 bc: BigCommerceSandbox | None = None, url: str | None = None) -> None:
        self.wc, self.sonarid, self.tmp, self.bc = wc, sonarid, tmp, bc
        self.database = tmp / "connector.db"
        url = url or f"sqlite:///{self.database}"  # a PostgreSQL URL: the ledger lives there instead
        self.env = {**sandbox_env(wc, sonarid, self.database, bc), "CONNECTOR_RETRY_BASE": "0",
                    "CONNECTOR_ENV_FILE": str(tmp / "none.env"), "CONNECTOR_DATABASE_URL": url}
        self.runs: list[Run] = []

    def environment(self, **overrides: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("WOOCOMMERCE_", "BIGCOMMERCE_", "SONARID_", "ORDERPROTECTION_", "SOPHIO_", "SOPOST_", "VOYADO_",
                                     "CONNECTOR_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_"))}
        return {**base, **self.env, "COLUMNS": "200", **overrides}

    def __call__(self, *args: str, stdin: str | None = None, **overrides: str) -> Run:
        done = subprocess.run([sys.executable, "-m", "connector", *args], cwd=self.tmp, env=self.environment(**overrides),
                              input=stdin, capture_output=True, text=True, timeout=120)
        run = Run(done.returncode, done.stdout, done.stderr)
        self.runs.append(run)
        return run

    def popen(self, *args: str, **overrides: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "connector", *args], cwd=self.tmp,
                                env=self.environment(**overrides), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    @property
    def url(self) -> str:
        return self.env["CONNECTOR_DATABASE_URL"]

    def ledger(self) -> Ledger:
        return Ledger(self.url)

    def states(self, destination: str = "sonarid") -> dict[str, str]:
        ledger = self.ledger()
        try:
            return {row.order_id: row.state for row in ledger.deliveries(destination=destination)}
        finally:
            ledger.close()


@pytest.fixture
def wc() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox(WC_KEY, WC_SECRET) as server:
        yield server


@pytest.fixture
def sonarid() -> Iterator[SonarIDSandbox]:
    with SonarIDSandbox(SONARID_KEY) as server:
        yield server


@pytest.fixture
def connector(wc: WooCommerceSandbox, sonarid: SonarIDSandbox, tmp_path: Path) -> Connector:
    return Connector(wc, sonarid, tmp_path)


@pytest.fixture
def any_connector(wc: WooCommerceSandbox, sonarid: SonarIDSandbox, tmp_path: Path, database_url: str) -> Connector:
    """`connector` with its ledger on each backend in turn (SQLite, PostgreSQL)."""
    return Connector(wc, sonarid, tmp_path, url=database_url)


@pytest.fixture
def bc() -> Iterator[BigCommerceSandbox]:
    with BigCommerceSandbox(BC_HASH, BC_TOKEN) as server:
        yield server
    assert server.errors == []
    assert server.missing_headers == []  # every request carried the headers the Orders V2 spec requires


@pytest.fixture
def bc_connector(bc: BigCommerceSandbox, sonarid: SonarIDSandbox, tmp_path: Path) -> Connector:
    """The CLI with only the BigCommerce store (and sonarID) configured."""
    return Connector(None, sonarid, tmp_path, bc=bc)
