"""connector/formats.py: amounts in a currency's minor units, e-mail and phone formats, UTC times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from connector.formats import (
    amount_string,
    e164,
    email_address,
    email_error,
    iso_millis,
    iso_seconds,
    minor_units,
    phone_dashes,
)


@pytest.mark.parametrize(("value", "currency", "expected"), [
    ("150", "USD", "150.00"),
    ("150", "jpy", "150"),
    ("150", "KWD", "150.000"),
    ("1.005", "USD", "1.01"),  # half up, not banker's rounding
    ("2.5", "JPY", "3"),
    ("0.12345", "CLF", "0.1235"),
])
def test_amounts_have_the_currency_minor_units(value: str, currency: str, expected: str) -> None:
    assert amount_string(Decimal(value), currency) == expected


def test_minor_units() -> None:
    assert [minor_units(c) for c in ("EUR", "jpy", "BHD", "UYW", "XXX")] == [2, 0, 3, 4, 2]


def test_email_addresses_by_syntax() -> None:
    assert email_error("ann@example.com") is None
    assert email_error(" ann@example.com ") is None
    assert email_error("not-an-address") is not None
    assert email_error("") is not None
    assert email_address("", "  ", "bad@", " ann@example.com ", "bob@example.com") == "ann@example.com"
    assert email_address("bad", "") is None


def test_phone_numbers() -> None:
    assert e164("(555) 796-3644", "US") == "+15557963644"
    assert e164("+44 20 7946 0958", "") == "+442079460958"
    assert e164("020 7946 0958", "gb") == "+442079460958"
    assert e164("12", "US") is None
    assert e164("call me", "US") is None
    assert e164("5557963644", "") is None  # a local number without a country cannot be read
    assert phone_dashes("(555) 796-3644", "US") == "+1-555-796-3644"
    assert phone_dashes("", "US") is None


def test_utc_times() -> None:
    moment = datetime(2000, 5, 15, 18, 0, 0, 123_456, tzinfo=timezone(timedelta(hours=-3)))
    assert iso_millis(moment) == "2000-05-15T21:00:00.123Z"
    assert iso_seconds(moment) == "2000-05-15T21:00:00"
    assert iso_millis(datetime(2018, 7, 17, 12, 8, 6, tzinfo=UTC)) == "2018-07-17T12:08:06.000Z"
    assert iso_millis(None) is None and iso_seconds(None) is None
