"""Formats shared by destinations: e-mail addresses (email-validator), phone numbers (phonenumbers), currency
minor units, UTC times."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import phonenumbers
from email_validator import EmailNotValidError, validate_email

# ISO 4217 minor-unit exponents that are not 2 (the rest of the active codes use 2).
_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
                     "VUV", "XAF", "XOF", "XPF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def amount_string(value: Decimal, currency: str) -> str:
    """"150.00" for USD, "150" for JPY, "150.000" for KWD."""
    exponent = minor_units(currency)
    return str(value.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP))


def email_error(address: str) -> str | None:
    """Why `address` is not an e-mail address, by syntax only (email-validator, no DNS lookup); None when it is one.

    An empty address is not one either; callers that treat "none given" differently check for it first."""
    try:
        validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def email_address(*candidates: str) -> str | None:
    """The first candidate that is an e-mail address (stripped, as the store has it); None when none is."""
    return next((c.strip() for c in candidates if c and c.strip() and email_error(c) is None), None)


def _phone(phone: str, country: str) -> phonenumbers.PhoneNumber | None:
    """`phone` read with `country` for local formats; None when it cannot be parsed as a possible number."""
    if not phone or not phone.strip():
        return None
    try:
        parsed = phonenumbers.parse(phone, (country or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_possible_number(parsed) else None


def e164(phone: str, country: str) -> str | None:
    """"+15557963644"; None when it cannot be parsed as a possible number."""
    parsed = _phone(phone, country)
    return None if parsed is None else phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def iso_millis(value: datetime | None) -> str | None:
    """2000-05-15T21:00:00.000Z"""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def phone_dashes(phone: str, country: str) -> str | None:
    """"+1-555-796-3644": the international number in RFC 3966 form without "tel:"; None when not a possible number."""
    parsed = _phone(phone, country)
    if parsed is None:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.RFC3966).removeprefix("tel:")


def iso_seconds(value: datetime | None) -> str | None:
    """2018-07-17T12:08:06 (UTC, no offset)"""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def duration(seconds: float) -> str:
    """A span in its two largest units: 45s, 12m 5s, 3h, 3d 2h."""
    if not math.isfinite(seconds):
        return "forever"
    total = max(0, int(seconds))
    parts = [(total // 86400, "d"), (total % 86400 // 3600, "h"), (total % 3600 // 60, "m"), (total % 60, "s")]
    first = next((i for i, (n, _) in enumerate(parts) if n), 3)
    return " ".join(f"{n}{unit}" for n, unit in [parts[first], *[p for p in parts[first + 1:first + 2] if p[0]]])
