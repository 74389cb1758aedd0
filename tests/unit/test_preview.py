"""`preview` (connector/preview.py): the payload a destination would be sent for one platform order, or
why poll would never send it. No network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector import config
from connector.errors import BadInput
from connector.preview import render_payload

EXAMPLES = Path(__file__).parent.parent / "examples"


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


@pytest.fixture
def unconfigured(tmp_path: Path) -> config.Settings:
    return config.load({"CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}"})


def test_the_sonarid_payload_for_a_paid_woocommerce_order(unconfigured: config.Settings) -> None:
    payload = render_payload(example("docs_v3_order_727_processing_paid.json"), "woocommerce", "sonarid", unconfigured)
    assert (payload["email"], payload["firstName"], payload["lastName"]) == ("john.doe@example.com", "John", "Doe")
    assert payload["order"]["id"] == "wc_727"
    json.dumps(payload)  # what `preview` prints is JSON


def test_an_order_poll_would_not_send_is_refused_unless_any_status(unconfigured: config.Settings) -> None:
    pending = example("docs_v3_order_728_pending_unpaid.json")
    with pytest.raises(BadInput) as refused:
        render_payload(pending, "woocommerce", "sonarid", unconfigured)
    assert str(refused.value) == ("poll would not send woocommerce order 728: status 'pending' is not in "
                                  "WOOCOMMERCE_STATUSES (processing,completed); --any-status prints the payload anyway")
    assert render_payload(pending, "woocommerce", "sonarid", unconfigured, any_status=True)["order"]["id"] == "wc_728"


def test_the_configured_statuses_decide_what_poll_would_send(tmp_path: Path) -> None:
    settings = config.load({"CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}",
                            "WOOCOMMERCE_URL": "https://shop.example", "WOOCOMMERCE_CONSUMER_KEY": "ck_preview_unit",
                            "WOOCOMMERCE_CONSUMER_SECRET": "cs_preview_unit", "WOOCOMMERCE_STATUSES": "pending"})
    assert render_payload(example("docs_v3_order_728_pending_unpaid.json"), "woocommerce", "sonarid",
                          settings)["order"]["id"] == "wc_728"
    with pytest.raises(BadInput, match=r"status 'processing' is not in WOOCOMMERCE_STATUSES \(pending\)"):
        render_payload(example("docs_v3_order_727_processing_paid.json"), "woocommerce", "sonarid", settings)


@pytest.mark.parametrize(("raw", "message"), [
    ([{"id": 1}], "the file must hold one order object"),
    ({"status": "processing"}, "cannot read the woocommerce order: order has no id"),
])
def test_input_that_is_no_order_says_so(unconfigured: config.Settings, raw: Any, message: str) -> None:
    with pytest.raises(BadInput) as refused:
        render_payload(raw, "woocommerce", "sonarid", unconfigured)
    assert str(refused.value).startswith(message)


def test_a_malformed_order_names_the_field(unconfigured: config.Settings) -> None:
    raw = example("docs_v3_order_727_processing_paid.json")
    del raw["date_modified_gmt"]
    with pytest.raises(BadInput) as refused:
        render_payload(raw, "woocommerce", "sonarid", unconfigured)
    assert str(refused.value) == "cannot read the woocommerce order: date_modified_gmt is missing"


def test_an_order_the_destination_would_skip_says_why(unconfigured: config.Settings) -> None:
    raw = example("docs_v3_order_727_processing_paid.json")
    raw["billing"]["email"] = "not-an-address"
    with pytest.raises(BadInput) as refused:
        render_payload(raw, "woocommerce", "sonarid", unconfigured)
    assert str(refused.value).startswith("sonarid would skip order 727: sonarID requires ")
