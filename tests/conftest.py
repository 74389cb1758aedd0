from __future__ import annotations

import json
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
        if key.startswith(("WOOCOMMERCE_", "BIGCOMMERCE_", "SONARID_", "ORDERPROTECTION_", "SOPHIO_", "CONNECTOR_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CONNECTOR_ENV_FILE", str(tmp_path / "absent.env"))


def full(source: Source, scan: Callable[[Source], Iterator[Page]]) -> list[Page]:
    """A source's pages as the poll loop reads them (`Source.expand`) for a ledger that holds none of their orders."""
    return [source.expand(page, {}) for page in scan(source)]
