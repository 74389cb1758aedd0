"""SoPost's recorded exchanges (vcrpy): credentials and the webhook secret filtered at record time.

A missing cassette is recorded against the sandbox; a present one is replayed with no server (a closed
port). The webhook secret travels in `webhooks register`'s body (the URL SoPost is to call) and comes
back in SoPost's answer: both are rewritten before anything is written.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
import vcr

from connector.adapters import Secret
from connector.sandbox import SoPostSandbox, sample_sopost_order
from connector.sandbox.sopost import ORGANISATION
from connector.sources.sopost import NotFound, SoPost, SoPostSettings

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
KEY, SECRET = "sopost_canary_cassette_key", "sopost_canary_cassette_secret"
WEBHOOK_SECRET = "sopost-canary-webhook-secret-0123456789"
BASIC = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
SECRETS = (KEY, SECRET, BASIC, WEBHOOK_SECRET)
CLOSED = "http://127.0.0.1:9"
HIDDEN = "SOPOST_WEBHOOK_SECRET"


def _scrub(text: str) -> str:
    for secret in SECRETS:
        text = text.replace(secret, HIDDEN if secret == WEBHOOK_SECRET else "REDACTED")
    return text


def _request(request: Any) -> Any:
    if request.body:
        request.body = _scrub(request.body.decode() if isinstance(request.body, bytes) else request.body).encode()
    return request


def _response(response: dict[str, Any]) -> dict[str, Any]:
    body = response.get("body", {})
    if isinstance(body.get("string"), bytes):
        body["string"] = _scrub(body["string"].decode()).encode()
    return response


recorder = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none" if os.environ.get("CI") else "once",
    match_on=("method", "path", "query"),
    filter_headers=[("authorization", "REDACTED")],
    before_record_request=_request,
    before_record_response=_response,
    decode_compressed_response=True,
)


def _source(name: str) -> tuple[SoPost, SoPostSandbox | None]:
    server = SoPostSandbox(KEY, SECRET).start() if not (CASSETTES / name).exists() else None
    settings = SoPostSettings(api_url=server.url if server else CLOSED, api_key=Secret(KEY), api_secret=Secret(SECRET),
                              webhook_secret=Secret(WEBHOOK_SECRET), organisation_id=ORGANISATION)
    return SoPost(settings), server


def test_sopost_order() -> None:
    source, server = _source("sopost_order.yaml")
    order_id = sample_sopost_order(7)["id"]
    if server:
        server.add_order(sample_sopost_order(7))
    try:
        with recorder.use_cassette("sopost_order.yaml"):
            raw = source.fetch(order_id)
            with pytest.raises(NotFound):
                source.fetch("5050dead-0000-4000-8000-000000000000")
    finally:
        source.close()
        if server:
            server.stop()
    order = source.parse(raw)
    assert (order.id, order.number, order.status, order.billing.country) == (order_id, "9007ABCDEFG", "APPROVED", "US")
    assert [c.status for c in order.consents] == ["APPROVED"] and order.answers[0].answers[0].value == "Signs of ageing"


def test_sopost_webhook_registration() -> None:
    source, server = _source("sopost_webhook_register.yaml")
    url = f"https://connector.example.com/webhooks/sopost/{WEBHOOK_SECRET}"
    try:
        with recorder.use_cassette("sopost_webhook_register.yaml"):
            hook = source.register_webhook(url)
    finally:
        source.close()
        if server:
            server.stop()
    assert hook["events"] == ["OrderEvent"] and hook["entity_type"] == "Organisation"
    assert hook["entity_id"] == ORGANISATION and hook["id"]


@pytest.mark.parametrize("name", ["sopost_order.yaml", "sopost_webhook_register.yaml"])
def test_no_sopost_secret_in_its_cassettes(name: str) -> None:
    text = (CASSETTES / name).read_text()
    assert all(secret not in text for secret in SECRETS)
    assert "REDACTED" in text
