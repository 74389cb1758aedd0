"""JSON on the wire: Decimal goes out as an exact JSON number (never through float)."""

from __future__ import annotations

from typing import Any

import simplejson


def dumps(payload: Any, *, indent: int | None = None) -> str:
    return simplejson.dumps(payload, use_decimal=True, ensure_ascii=False, indent=indent)


def encode(payload: Any) -> bytes:
    return dumps(payload).encode("utf-8")


def loads(text: str | bytes) -> Any:
    return simplejson.loads(text, use_decimal=True)
