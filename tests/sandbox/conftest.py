"""Fixtures for the sandbox tests. Test modules use fixtures only (no `from conftest import`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from woocommerce import API

from connector.sandbox import SonarIDSandbox, WooCommerceSandbox

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)

OrderFactory = Callable[..., dict[str, Any]]


class Clock:
    """A settable clock for the sandbox store."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def _gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def order_at() -> OrderFactory:
    """``order_at(created, modified=None, status="processing", **fields)``: a minimal order with GMT dates."""

    def make(
        created: datetime, modified: datetime | None = None, status: str = "processing", **fields: Any
    ) -> dict[str, Any]:
        return {
            "status": status,
            "date_created_gmt": _gmt(created),
            "date_modified_gmt": _gmt(modified or created),
            "billing": {"first_name": "Jane", "last_name": "Smith", "email": "jane@example.com"},
            **fields,
        }

    return make


@pytest.fixture
def store(clock: Clock) -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox(clock=clock) as sandbox:
        yield sandbox
    assert sandbox.errors == []


@pytest.fixture
def api(store: WooCommerceSandbox) -> API:
    return API(url=store.url, consumer_key=store.consumer_key, consumer_secret=store.consumer_secret,
               version="wc/v3", timeout=10)


@pytest.fixture
def sonar() -> Iterator[SonarIDSandbox]:
    with SonarIDSandbox() as sandbox:
        yield sandbox
    assert sandbox.errors == []
