"""Recorded exchanges (vcrpy) with every credential filtered at record time, and a check that none leaks.

A missing cassette is recorded against the sandbox; a present one is replayed with no server at all
(the URL below points at a closed port). CI replays only (record_mode "none").
"""

from __future__ import annotations

import base64
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import vcr

from connector.config import (
    BigCommerceSettings,
    OrderProtectionSettings,
    Secret,
    SonarIDSettings,
    SophioSettings,
    WooCommerceSettings,
)
from connector.delivery import Outcome, classify_response
from connector.destinations.orderprotection import OrderProtection
from connector.destinations.sonarid import SonarID
from connector.destinations.sophio import Sophio, authentication
from connector.orders import Order, Rejected
from connector.sandbox import (
    BigCommerceSandbox,
    OrderProtectionSandbox,
    SonarIDSandbox,
    SophioSandbox,
    WooCommerceSandbox,
    sample_bigcommerce_orders,
    sample_woocommerce_orders,
)
from connector.sandbox.bigcommerce_data import order_with_lines
from connector.sources.base import retrying
from connector.sources.bigcommerce import BigCommerce
from connector.sources.woocommerce import WooCommerce
from tests.conftest import example, full

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
WC_KEY, WC_SECRET, SONAR_KEY = "ck_canary_cassette_key", "cs_canary_cassette_secret", "sk_canary_cassette_key"
OP_TOKEN = "op_canary_cassette_token"
SOPHIO_KEY, SOPHIO_SECRET = "sophio_canary_cassette_key", "sophio_canary_cassette_secret"
SOPHIO_AUTHENTICATION = base64.b64encode(f"{SOPHIO_KEY}:{SOPHIO_SECRET}".encode()).decode()
BC_TOKEN, BC_HASH = "bc_canary_cassette_token", "cassette1"
VOYADO_KEY = "voyado_canary_cassette_key"
SECRETS = (WC_KEY, WC_SECRET, SONAR_KEY, OP_TOKEN, SOPHIO_KEY, SOPHIO_SECRET, SOPHIO_AUTHENTICATION,
           authentication(SOPHIO_KEY, SOPHIO_SECRET), BC_TOKEN, VOYADO_KEY)
SECRET_HEADERS = ("authorization", "x-api-key", "x-auth-token", "x-auth-client")
CLOSED = "http://127.0.0.1:9"
SINCE = datetime(2020, 1, 1, tzinfo=UTC)
BC_NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SECRET_QUERY = ("consumer_key", "consumer_secret", "oauth_consumer_key", "oauth_signature", "oauth_nonce",
                "oauth_timestamp", "authentication")

recorder = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none" if os.environ.get("CI") else "once",
    match_on=("method", "path", "query"),
    filter_headers=[(h, "REDACTED") for h in SECRET_HEADERS],
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
    items = [i for o in orders if isinstance(o, Order) for i in o.items]
    assert any(i.weight is not None and i.weight_unit == "kilograms" for i in items)  # from the catalogue


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


def _order_727() -> Order:
    wc = WooCommerce(WooCommerceSettings(url="https://shop.example", consumer_key=Secret("ck_x"),
                                         consumer_secret=Secret("cs_x")))
    raw = example("docs_v3_order_727_processing_paid.json")
    raw["line_items"][0]["sku"] = "WOO-SINGLE-1"  # Sophio needs a SKU on every line
    return wc.parse(raw)


def test_orderprotection_submission() -> None:
    name = "orderprotection_submission.yaml"
    server = OrderProtectionSandbox(OP_TOKEN).start() if _recording(name) else None
    destination = OrderProtection(OrderProtectionSettings(api_token=Secret(OP_TOKEN),
                                                          url=server.url if server else CLOSED))
    payload = destination.build(_order_727())
    try:
        with recorder.use_cassette(name) as cassette, destination.client(10) as client:
            result = classify_response(destination.send(client, payload), destination)
    finally:
        if server:
            server.stop()
    assert (result.outcome, result.status_code, result.body) == (Outcome.DELIVERED, 201, '{"status":"ok"}')
    [request] = cassette.requests
    assert request.path == "/v1/orders" and request.headers["Authorization"] == "REDACTED"
    assert b'"total": 29.35' in request.body  # an exact JSON number on the wire


def test_sophio_submission() -> None:
    name = "sophio_submission.yaml"
    server = SophioSandbox(SOPHIO_KEY, SOPHIO_SECRET).start() if _recording(name) else None
    destination = Sophio(SophioSettings(store_url=server.url if server else CLOSED, api_key=Secret(SOPHIO_KEY),
                                        api_secret=Secret(SOPHIO_SECRET)))
    payload = destination.build(_order_727())
    try:
        with recorder.use_cassette(name) as cassette, destination.client(10) as client:
            result = classify_response(destination.send(client, payload), destination)
    finally:
        if server:
            server.stop()
    assert result.outcome is Outcome.DELIVERED and result.reference == "123456"
    [request] = cassette.requests
    assert request.path == "/createorder.wws" and dict(request.query) == {"action": "CREATE",
                                                                          "authentication": "REDACTED"}


def test_voyado_contact_details() -> None:
    from connector.lookups.voyado import Voyado, VoyadoSettings
    from connector.sandbox import VoyadoSandbox

    name = "voyado_contact_details.yaml"
    server = VoyadoSandbox(VOYADO_KEY).start() if _recording(name) else None
    if server:
        server.add_member("vip@example.com", level="Gold", member_number="38666", bonus_points=120)
    voyado = Voyado(VoyadoSettings(api_key=Secret(VOYADO_KEY), url=server.url if server else CLOSED))
    try:
        with recorder.use_cassette(name) as cassette, voyado.client(10) as client:
            member, stranger = voyado.look_up(client, " VIP@example.com"), voyado.look_up(client, "nobody@example.com")
    finally:
        if server:
            server.stop()
    assert member.loyalty is not None and (member.loyalty.member_number, member.loyalty.level) == ("38666", "Gold")
    assert stranger.loyalty is not None and (stranger.status_code, stranger.word) == (404, "ContactNotFound")
    assert [r.body for r in cassette.requests] == [b'{"email":"vip@example.com"}', b'{"email":"nobody@example.com"}']
    assert all(r.headers["Authorization"] == "REDACTED" for r in cassette.requests)


def bigcommerce_cassette(name: str, *, quota: int | None = None, window_ms: int = 30_000,
                         orders: tuple[dict, ...] = ()) -> tuple[BigCommerceSandbox | None, BigCommerce]:
    """A sandbox store to record against (None when replaying) and a source pointed at it."""
    server = None
    if _recording(name):
        server = BigCommerceSandbox(BC_HASH, BC_TOKEN, quota=quota, window_ms=window_ms, clock=lambda: BC_NOW).start()
        for order in orders:
            server.add_order(order)
    settings = BigCommerceSettings(store_hash=BC_HASH, access_token=Secret(BC_TOKEN), client_id="cassette-client",
                                   api_url=server.api_url if server else CLOSED)
    return server, BigCommerce(settings, retry=lambda: retrying(multiplier=0.01, max_wait=0.05))


def test_bigcommerce_orders_page() -> None:
    name = "bigcommerce_orders_page.yaml"
    server, source = bigcommerce_cassette(name, orders=tuple(sample_bigcommerce_orders(8, seed=11, now=BC_NOW)))
    try:
        with recorder.use_cassette(name) as cassette:
            pages = list(full(source, lambda s: s.created(SINCE, BC_NOW)))
    finally:
        if server:
            server.stop()
    orders = [o for page in pages for o in page.orders]
    assert orders and all(isinstance(o, Order) for o in orders)
    for order in orders:
        assert isinstance(order, Order) and order.status_id in (2, 3, 8, 9, 10, 11)
        assert order.items and order.created_at.tzinfo is not None
    assert sum(page.seen for page in pages) > len(orders)  # the unpaid ones were listed and left out
    assert cassette.requests[0].path == f"/stores/{BC_HASH}/v2/orders"


def test_bigcommerce_orders_204() -> None:
    name = "bigcommerce_orders_204.yaml"
    server, source = bigcommerce_cassette(name)
    try:
        with recorder.use_cassette(name) as cassette:
            pages = list(full(source, lambda s: s.modified(SINCE)))
    finally:
        if server:
            server.stop()
    assert pages == []
    assert [r["status"]["code"] for r in cassette.responses] == [204]


def test_bigcommerce_products_page() -> None:
    name = "bigcommerce_products_page.yaml"
    server, source = bigcommerce_cassette(name, orders=(order_with_lines(4, order_id=500, now=BC_NOW),))
    try:
        with recorder.use_cassette(name) as cassette:
            [page] = list(full(source, lambda s: s.created(SINCE, BC_NOW)))
    finally:
        if server:
            server.stop()
    [order] = page.orders
    assert isinstance(order, Order) and len(order.items) == 4
    assert all(item.sku and item.weight is not None and item.weight_unit == "pounds" for item in order.items)
    [products] = [r for r in cassette.requests if r.path.endswith("/orders/500/products")]
    assert products.query == [("limit", "250"), ("page", "1")]  # never the default 50


def test_bigcommerce_429_then_the_window_resets() -> None:
    name = "bigcommerce_429.yaml"
    server, source = bigcommerce_cassette(name, quota=2, window_ms=300)
    if server:
        server.consume(2)  # the store's other apps spent the window
    try:
        with recorder.use_cassette(name) as cassette:
            pages = list(full(source, lambda s: s.modified(SINCE)))
    finally:
        if server:
            server.stop()
    assert pages == [] and source.api.rate_limited == 1
    refused, answered = cassette.responses
    assert refused["status"]["code"] == 429 and answered["status"]["code"] == 204
    assert "X-Rate-Limit-Time-Reset-Ms" in refused["headers"]


@pytest.mark.parametrize("path", sorted(CASSETTES.glob("*.yaml")), ids=lambda p: p.name)
def test_no_secret_in_any_cassette(path: Path) -> None:
    text = path.read_text()
    for secret in (*SECRETS, "cs_sandbox_secret", "sk_test_sandbox", "bc_sandbox_token"):
        assert secret not in text
    for header in re.findall(rf"(?im)^\s*({'|'.join(SECRET_HEADERS)}):\s*\n\s*-\s*(.+)$", text):
        assert header[1].strip() == "REDACTED", header
    for param in SECRET_QUERY:
        for value in re.findall(rf"[?&]{param}=([^&\s'\"]+)", text):
            assert value == "REDACTED", (param, value)
