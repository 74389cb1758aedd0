from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.sources.base import Page, Source

EXAMPLES = Path(__file__).resolve().parent / "examples"


def example(name: str) -> dict[str, Any]:
    """A verbatim vendor/platform example order (copied from shared/research into tests/examples)."""
    return json.loads((EXAMPLES / name).read_text())


@pytest.fixture(autouse=True)
def _no_user_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the developer's .env or real credentials."""
    import os

    for key in list(os.environ):
        if key.startswith(("WOOCOMMERCE_", "BIGCOMMERCE_", "SONARID_", "ORDERPROTECTION_", "SOPHIO_", "SOPOST_", "VOYADO_",
                           "CONNECTOR_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CONNECTOR_ENV_FILE", str(tmp_path / "absent.env"))


def full(source: Source, scan: Callable[[Source], Iterator[Page]]) -> list[Page]:
    """A source's pages as the poll loop reads them (`Source.expand`) for a ledger that holds none of their orders."""
    return [source.expand(page, {}) for page in scan(source)]


# -- the ledger's backends ---------------------------------------------------------------------
# PostgreSQL tests use the real server of this machine (and of CI): each test gets its own schema,
# dropped after. Unreachable: skipped on a developer's machine, a failure in CI (CI=true).
POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server() -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    engine = create_engine(POSTGRES, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        message = f"PostgreSQL server {POSTGRES} unreachable: {str(exc.orig).strip().splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()
    return POSTGRES


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema of the test server, dropped after the test."""
    from sqlalchemy import create_engine, text

    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{postgres_server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty ledger URL on each backend."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'ledger.db'}"
