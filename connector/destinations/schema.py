"""A vendor's documented request fields, checked on our own payload before it is sent.

Each destination declares its document's fields as `Field`s; `check` walks the payload:

- a required field that is absent, empty ("" / [] / {}) or None → `Skip` naming the field: the order
  cannot satisfy the vendor's contract, so it is not sent to fail with a 400;
- a value outside the documented choices (an enum) → `Skip` naming the field and the value;
- a value of the wrong JSON type, or a field the document does not have → `PayloadError` (a `ValueError`):
  the mapping is wrong, not the order, so the delivery goes `dead` and can be re-queued with
  `retry --dead` once the mapping is fixed.

A JSON number is an `int` or a `Decimal` — never a `float` (money must stay exact) and never a `bool`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from connector.destinations.base import Skip


class Kind(StrEnum):
    STRING = "a string"
    NUMBER = "a number"
    INTEGER = "an integer"
    BOOLEAN = "true or false"
    OBJECT = "an object"
    ARRAY = "an array"


class PayloadError(ValueError):
    """Our payload has a value of the wrong type for the vendor's document (a mapping bug)."""


@dataclass(frozen=True)
class Field:
    kind: Kind
    required: bool = False
    choices: frozenset[str] | None = None
    fields: Mapping[str, Field] | None = None  # an object's fields, or the fields of each object in an array


def _has_kind(value: Any, kind: Kind) -> bool:
    if kind is Kind.STRING:
        return isinstance(value, str)
    if kind is Kind.NUMBER:
        return isinstance(value, Decimal | int) and not isinstance(value, bool) and (
            not isinstance(value, Decimal) or value.is_finite())
    if kind is Kind.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is Kind.BOOLEAN:
        return isinstance(value, bool)
    if kind is Kind.OBJECT:
        return isinstance(value, dict)
    return isinstance(value, list)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value) or (
        isinstance(value, str) and not value.strip())


def check(payload: Mapping[str, Any], fields: Mapping[str, Field], vendor: str, path: str = "") -> None:
    """Raise `Skip` or `PayloadError` (module docstring) when `payload` breaks the vendor's document."""
    unknown = [name for name in payload if name not in fields]
    if unknown:
        raise PayloadError(f"{vendor}: {path}{unknown[0]} is not a field of its document")
    for name, spec in fields.items():
        where = f"{path}{name}"
        if name not in payload or _empty(payload[name]):
            if spec.required:
                raise Skip(f"{vendor} requires {where} ({spec.kind.value}), which the order does not have")
            if name not in payload or payload[name] is None:
                continue
        value = payload[name]
        if not _has_kind(value, spec.kind):
            raise PayloadError(f"{vendor}: {where} must be {spec.kind.value}, not {type(value).__name__} {value!r}")
        if spec.choices is not None and value not in spec.choices:
            raise Skip(f"{vendor} does not accept {where} {value!r} (not one of its documented values)")
        if spec.kind is Kind.OBJECT and spec.fields is not None:
            check(value, spec.fields, vendor, f"{where}.")
        if spec.kind is Kind.ARRAY and spec.fields is not None:
            for index, item in enumerate(value):
                if not isinstance(item, dict):
                    raise PayloadError(f"{vendor}: {where}[{index}] must be an object, not {type(item).__name__}")
                check(item, spec.fields, vendor, f"{where}[{index}].")
