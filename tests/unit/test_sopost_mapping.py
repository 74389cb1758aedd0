"""SoPost's order (the guide's example) → `Order`, its settings, and the consent rule."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from connector import config
from connector.adapters import ConfigError, Secret
from connector.destinations.sonarid import SonarID, SonarIDSettings
from connector.orders import MalformedOrder, Order
from connector.sources.sopost import SoPostSettings, consent_problem, country, parse_order, split_name

GUIDE_EXAMPLE = json.loads((Path(__file__).resolve().parents[1] / "examples" / "sopost_guide_order.json").read_text())
SETTINGS = SoPostSettings(api_url="https://sopost.invalid", api_key=Secret("k"), api_secret=Secret("s"),
                          webhook_secret=Secret("w" * 20))
ENV = {"SOPOST_API_URL": "https://api.sopost.test", "SOPOST_API_KEY": "sopost_unit_key_1234",
       "SOPOST_API_SECRET": "sopost_unit_secret_1234",
       "SOPOST_WEBHOOK_SECRET": "a-long-webhook-secret-1234"}


def test_the_guides_example_order_maps_field_by_field() -> None:
    order = parse_order(GUIDE_EXAMPLE, store="org")
    assert (order.source, order.id, order.number, order.status) == (
        "sopost", "3fa85f64-5717-4562-b3fc-2c963f66afa6", "9999ABCDEFG", "APPROVED")
    assert order.billing.model_dump() == {
        "first_name": "Joe", "last_name": "Bloggs", "company": "", "address_1": "SoPost Ltd",
        "address_2": "The Core, Bath Lane", "address_3": "Tyne & Wear", "city": "Newcastle Upon Type", "state": "",
        "postcode": "NE4 5TF", "country": "GB", "phone": "+441914980123", "email": "joe.bloggs@example.com"}
    assert order.shipping_address == order.billing
    assert order.customer.id == "98700f04-e705-4547-a3ee-d38a8cc9293d"
    assert [(i.id, i.quantity) for i in order.items] == [("f3a10b3a-a02f-4568-b1ca-ea6571620f91", 1)]
    assert [(c.id, c.name, c.data_handler, c.status) for c in order.consents] == [
        ("d2271011-4d8a-47e7-9d4a-5045780fbce9", "SoPost Marketing Optin", "SoPost", "APPROVED")]
    [answer] = order.answers
    assert (answer.question_id, answer.question) == ("skincare-concern-101", "What is your biggest skincare concern?")
    assert [(a.name, a.value) for a in answer.answers] == [("ageing-423", "Signs of ageing"), ("sun-033", "Sun damage")]
    assert order.tags == ("activity:3fa85f64-5717-4562-b3fc-2c963f66afa6",)
    assert (order.priced, order.currency, order.total, order.needs_shipping) == (False, "", Decimal("0"), False)
    assert (order.platform_key, order.fulfilment) == ("sp_3fa85f64-5717-4562-b3fc-2c963f66afa6", "unfulfilled")
    assert Order.model_validate_json(order.model_dump_json()) == order  # the snapshot keeps consents and answers


def test_sonarid_gets_no_invented_money_for_a_sample() -> None:
    payload = SonarID(SonarIDSettings(api_key=Secret("k"))).build(parse_order(GUIDE_EXAMPLE, store="org"))
    assert payload == {"email": "joe.bloggs@example.com", "firstName": "Joe", "lastName": "Bloggs",
                       "phone": "+441914980123", "address": {"city": "Newcastle Upon Type", "zipcode": "NE4 5TF",
                                                             "country": "GB"},
                       "order": {"id": "sp_3fa85f64-5717-4562-b3fc-2c963f66afa6", "number": "9999ABCDEFG"}}


def test_a_store_orders_content_hash_is_what_it_was_before_consents_existed() -> None:
    order = parse_order(GUIDE_EXAMPLE, store="org").model_copy(update={"consents": (), "answers": ()})
    body = order.model_dump_json(exclude={"modified_at", "consents", "answers"})
    import hashlib

    assert order.content_hash() == hashlib.sha256(body.encode()).hexdigest()[:32]


@pytest.mark.parametrize(("territory", "alpha_2"), [("GBR", "GB"), ("swe", "SE"), ("USA", "US"), ("DE", "DE"), ("", "")])
def test_territory_alpha_3_becomes_alpha_2(territory: str, alpha_2: str) -> None:
    assert country(territory) == alpha_2


def test_an_unknown_territory_is_a_malformed_order() -> None:
    with pytest.raises(MalformedOrder, match="territory"):
        parse_order({**GUIDE_EXAMPLE, "address": {**GUIDE_EXAMPLE["address"], "territory": "XYZ"}}, store="org")


@pytest.mark.parametrize(("full", "first", "last"), [
    ("Joe Bloggs", "Joe", "Bloggs"), ("Dr. Mary Ann Smith", "Mary Ann", "Smith"),
    ("Ludwig van Beethoven", "Ludwig", "van Beethoven"), ("Cher", "Cher", ""), ("", "", "")])
def test_the_full_name_is_split(full: str, first: str, last: str) -> None:
    assert split_name(full) == (first, last)


def test_consent_is_required_by_default_and_can_name_the_consents_that_count() -> None:
    order = parse_order(GUIDE_EXAMPLE, store="org")
    assert consent_problem(order, SETTINGS) is None
    without = parse_order({**GUIDE_EXAMPLE, "consents": []}, store="org")
    assert "no APPROVED marketing consent" in (consent_problem(without, SETTINGS) or "")
    refused = parse_order({**GUIDE_EXAMPLE, "consents": [{**GUIDE_EXAMPLE["consents"][0], "status": "REJECTED"}]}, store="o")
    assert consent_problem(refused, SETTINGS) is not None
    other = SoPostSettings(**{**SETTINGS.__dict__, "consent_ids": ("retailer-list",)})
    assert "SOPOST_CONSENT_IDS (retailer-list)" in (consent_problem(order, other) or "")
    off = SoPostSettings(**{**SETTINGS.__dict__, "require_consent": False})
    assert consent_problem(without, off) is None


def test_sopost_settings() -> None:
    settings = config.load(ENV).of("sopost")
    assert settings is not None and settings.statuses == ("APPROVED",) and settings.destinations == ("sonarid",)
    assert settings.require_consent and settings.consent_ids == ()
    assert config.load({**ENV, "SOPOST_STATUSES": "approved,dispatched"}).of("sopost").statuses == ("APPROVED", "DISPATCHED")
    assert config.load({}).of("sopost") is None


@pytest.mark.parametrize(("change", "variable"), [
    ({"SOPOST_API_KEY": ""}, "SOPOST_API_KEY"),
    ({"SOPOST_WEBHOOK_SECRET": "short"}, "SOPOST_WEBHOOK_SECRET"),
    ({"SOPOST_WEBHOOK_SECRET": "has/a/slash/in/it/1234"}, "SOPOST_WEBHOOK_SECRET"),
    ({"SOPOST_DESTINATIONS": "sonarid,nowhere"}, "SOPOST_DESTINATIONS"),
    ({"SOPOST_REQUIRE_CONSENT": "maybe"}, "SOPOST_REQUIRE_CONSENT"),
    ({"SOPOST_API_URL": "ftp://x"}, "SOPOST_API_URL"),
])
def test_a_bad_sopost_setting_names_its_variable(change: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}: ") as caught:
        config.load({**ENV, **change})
    assert "a-long-webhook-secret-1234" not in str(caught.value)


@pytest.mark.parametrize(("value", "expected"), [
    (None, ("127.0.0.1", 8787)), ("", None), ("0.0.0.0:9000", ("0.0.0.0", 9000)), ("[::1]:8787", ("::1", 8787)),
    ("127.0.0.1:0", ("127.0.0.1", 0))])
def test_connector_listen(value: str | None, expected: tuple[str, int] | None) -> None:
    assert config.load({} if value is None else {"CONNECTOR_LISTEN": value}).listen == expected


@pytest.mark.parametrize("value", ["8787", "localhost", "host:port", "127.0.0.1:70000"])
def test_a_bad_connector_listen_names_it(value: str) -> None:
    with pytest.raises(ConfigError, match="^CONNECTOR_LISTEN: "):
        config.load({"CONNECTOR_LISTEN": value})
