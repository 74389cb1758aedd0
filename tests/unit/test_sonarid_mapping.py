"""sonarID mapping, held against shared/api-docs/sonarid-orders-api.txt."""

from __future__ import annotations

import copy

import pytest

from connector.config import Secret, SonarIDSettings, WooCommerceSettings
from connector.destinations.base import Skip
from connector.destinations.sonarid import SonarID
from connector.sources.woocommerce import WooCommerce
from tests.conftest import example

WC = WooCommerce(WooCommerceSettings(url="https://shop.example", consumer_key=Secret("ck_x"),
                                     consumer_secret=Secret("cs_x")))
SONARID = SonarID(SonarIDSettings(api_key=Secret("sk_test_unit")))

# The docs' own request body.
DOCS_EXAMPLE = {
    "email": "jane@example.com",
    "firstName": "Jane",
    "lastName": "Smith",
    "phone": "+15551234567",
    "address": {"city": "Atherton", "state": "CA", "zipcode": "94027", "country": "US"},
    "order": {"id": "wc_1042", "number": "1042", "total": "150.00", "currency": "USD"},
}


def jane() -> dict:
    order = copy.deepcopy(example("docs_v3_order_727_processing_paid.json"))
    order.update(id=1042, number="1042", total="150.00", currency="USD")
    order["billing"].update(first_name="Jane", last_name="Smith", email="jane@example.com", phone="(555) 123-4567",
                            city="Atherton", state="CA", postcode="94027", country="US")
    order["date_modified_gmt"] = order.get("date_modified_gmt") or "2017-03-22T19:28:02"
    return order


def test_docs_example_field_by_field() -> None:
    payload = SONARID.build(WC.parse(jane()))
    assert payload == DOCS_EXAMPLE
    assert list(payload) == list(DOCS_EXAMPLE)  # the docs' order


def test_real_docs_order_727() -> None:
    payload = SONARID.build(WC.parse(example("docs_v3_order_727_processing_paid.json")))
    assert payload["email"] == "john.doe@example.com"
    assert payload["order"] == {"id": "wc_727", "number": "727", "total": "29.35", "currency": "USD"}
    assert payload["address"] == {"city": "San Francisco", "state": "CA", "zipcode": "94103", "country": "US"}


@pytest.mark.parametrize(("phone", "country", "expected"), [
    ("020 7946 0958", "GB", "+442079460958"),
    ("+49 30 123456", "DE", "+4930123456"),
    ("(555) 123-4567", "US", "+15551234567"),
    ("not a phone", "US", None),
    ("", "US", None),
])
def test_phone_is_e164_from_the_billing_country(phone: str, country: str, expected: str | None) -> None:
    order = jane()
    order["billing"].update(phone=phone, country=country)
    order["shipping"]["phone"] = ""
    payload = SONARID.build(WC.parse(order))
    assert payload.get("phone") == expected


def test_names_fall_back_to_shipping() -> None:
    order = jane()
    order["billing"].update(first_name="", last_name="")
    order["shipping"].update(first_name="Ana", last_name="Lima")
    payload = SONARID.build(WC.parse(order))
    assert (payload["firstName"], payload["lastName"]) == ("Ana", "Lima")


def test_missing_email_is_skipped_with_the_reason() -> None:
    order = jane()
    order["billing"]["email"] = ""
    with pytest.raises(Skip, match="requires email"):
        SONARID.build(WC.parse(order))


@pytest.mark.parametrize(("currency", "total", "expected"), [
    ("USD", "150", "150.00"), ("JPY", "1500.00", "1500"), ("KWD", "12.5", "12.500"), ("EUR", "9.999", "10.00"),
])
def test_total_uses_the_currency_minor_units(currency: str, total: str, expected: str) -> None:
    order = jane()
    order.update(currency=currency, total=total)
    assert SONARID.build(WC.parse(order))["order"]["total"] == expected


def test_woocommerce_variation_options_and_names_read_as_a_person_would() -> None:
    order = example("docs_v3_order_727_processing_paid.json")
    order["line_items"][0]["name"] = "Ship Your Idea &ndash; Black"
    order["line_items"][0]["meta_data"] = [
        {"id": 1, "key": "pa_color", "value": "black"},
        {"id": 2, "key": "size", "value": "m", "display_key": "Size", "display_value": "<p>M</p>"},
        {"id": 3, "key": "_reduced_stock", "value": "1"},
    ]
    item = WC.parse(order).items[0]
    assert item.name == "Ship Your Idea – Black"
    assert [(o.name, o.value) for o in item.options] == [("Color", "black"), ("Size", "M")]


@pytest.mark.parametrize("email", ["Mia Lund@example.se", "mia.lund@", "mia.lund@example", "mia@@example.se",
                                   "mia.lund@example..se"])
def test_an_email_that_is_not_an_address_is_skipped_with_the_reason(email: str) -> None:
    order = jane()
    order["billing"]["email"] = email
    with pytest.raises(Skip, match="sonarID requires a valid email and refuses the order's: .+"):
        SONARID.build(WC.parse(order))


@pytest.mark.parametrize("email", ["mia.lund@example.se", "Mia.Lund+shop@Example.SE", "  mia@example.se ",
                                   "jörg@bücher.de"])
def test_real_addresses_are_sent_as_the_store_has_them(email: str) -> None:
    order = jane()
    order["billing"]["email"] = email
    assert SONARID.build(WC.parse(order))["email"] == email.strip()


def test_the_first_email_that_is_an_address_is_used() -> None:
    order = WC.parse(jane())
    order = order.model_copy(update={"customer": order.customer.model_copy(update={"email": "Mia Lund@example.se"})})
    assert SONARID.build(order)["email"] == "jane@example.com"  # the billing e-mail, the account's is not one


def test_an_order_without_a_currency_leaves_the_code_out() -> None:
    order = WC.parse(jane()).model_copy(update={"currency": ""})
    assert SONARID.build(order)["order"] == {"id": "wc_1042", "number": "1042", "total": "150.00"}
