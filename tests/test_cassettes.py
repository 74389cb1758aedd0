"""Recorded exchanges (vcrpy) with every credential filtered at record time, and a check that none leaks.

A missing cassette is recorded against the sandbox; a present one is replayed with no server at all
(the URL below points at a closed port). CI replays only (record_mode "none").
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import vcr

from connector.config import Secret, SonarIDSettings, WooCommerceSettings
from connector.delivery import Outcome, classify_response
from connector.destinations.sonarid import SonarID
from connector.ledger import Rejected
from connector.orders import Order
from connector.sandbox import SonarIDSandbox, WooCommerceSandbox, sample_woocommerce_orders
from connector.sources.woocommerce import WooCommerce
from tests.conftest import example

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
WC_KEY, WC_SECRET, SONAR_KEY = "ck_canary_cassette_key", "cs_canary_cassette_secret", "sk_canary_cassette_key"
SECRETS = (WC_KEY, WC_SECRET, SONAR_KEY)
CLOSED = "http://127.0.0.1:9"
SINCE = datetime(2020, 1, 1, tzinfo=UTC)
SECRET_QUERY = ("consumer_key", "consumer_secret", "oauth_consumer_key", "oauth_signature", "oauth_nonce",
                "oauth_timestamp", "authentication")

recorder = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none" if os.environ.get("CI") else "once",
    match_on=("method", "path", "query"),
    filter_headers=[(h, "REDACTED") for h in ("authorization", "x-api-key", "x-auth-token")],
    filter_query_parameters=[(p, "REDACTED") for p in SECRET_QUERY],
    decode_compressed_response=True,
)


def _recording(name: str) -> bool:
    return not (CASSETTES / name).exists()


def test_woocommerce_orders_page() -> None:
    name = "woocommerce_orders_page.yaml"
    server = None
    if _recording(name):
        server = WooCommerceSandbox(WC_KEY, WC_SECRET).start()
        for order in sample_woocommerce_orders(8, seed=11, now=datetime(2026, 11, 20, tzinfo=UTC)):
            server.add_order(order)
    url = server.url if server else CLOSED
    source = WooCommerce(WooCommerceSettings(url=url, consumer_key=Secret(WC_KEY), consumer_secret=Secret(WC_SECRET)))
    try:
        with recorder.use_cassette(name):
            pages = list(source.modified(SINCE))
    finally:
        if server:
            server.stop()
    orders = [o for page in pages for o in page.orders]
    assert pages and orders
    assert all(isinstance(o, Order | Rejected) for o in orders)
    assert all(o.status in ("processing", "completed") for o in orders if isinstance(o, Order))
    assert all(o.created_at.tzinfo is not None for o in orders if isinstance(o, Order))


def test_sonarid_submission() -> None:
    name = "sonarid_submission.yaml"
    server = SonarIDSandbox(SONAR_KEY).start() if _recording(name) else None
    destination = SonarID(SonarIDSettings(api_key=Secret(SONAR_KEY), url=server.url if server else CLOSED))
    wc = WooCommerce(WooCommerceSettings(url="https://shop.example", consumer_key=Secret("ck_x"),
                                         consumer_secret=Secret("cs_x")))
    payload = destination.build(wc.parse(example("docs_v3_order_727_processing_paid.json")))
    try:
        with recorder.use_cassette(name), destination.client(10) as client:
            result = classify_response(destination.send(client, payload), destination)
    finally:
        if server:
            server.stop()
    assert result.outcome is Outcome.DELIVERED
    assert result.reference and re.fullmatch(r"[0-9a-f-]{36}", result.reference)


@pytest.mark.parametrize("path", sorted(CASSETTES.glob("*.yaml")), ids=lambda p: p.name)
def test_no_secret_in_any_cassette(path: Path) -> None:
    text = path.read_text()
    for secret in (*SECRETS, "cs_sandbox_secret", "sk_test_sandbox"):
        assert secret not in text
    for header in re.findall(r"(?im)^\s*(authorization|x-api-key|x-auth-token):\s*\n\s*-\s*(.+)$", text):
        assert header[1].strip() == "REDACTED", header
    for param in SECRET_QUERY:
        for value in re.findall(rf"[?&]{param}=([^&\s'\"]+)", text):
            assert value == "REDACTED", (param, value)
