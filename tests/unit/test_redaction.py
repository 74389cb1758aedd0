"""connector/redaction.py: secrets by value (and their base64 and URL forms) and credentials by name."""

from __future__ import annotations

import base64
import io
import logging
import uuid
from urllib.parse import quote

from connector.redaction import (
    MASK,
    RedactingFilter,
    redact,
    register_pair,
    register_secret,
)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


def test_credential_query_parameters_are_masked_by_name() -> None:
    url = ("https://shop.example/wp-json/wc/v3/orders?consumer_key=ck_abc&consumer_secret=cs_def&page=2"
           "&oauth_signature=Zht4R2%3D")
    assert redact(url) == ("https://shop.example/wp-json/wc/v3/orders?consumer_key=***&consumer_secret=***&page=2"
                           "&oauth_signature=***")
    assert redact("POST https://sophio.example/api?AUTHENTICATION=dXNlcjpwYXNz&x=1") == (
        "POST https://sophio.example/api?AUTHENTICATION=***&x=1")
    assert redact("tokens=5 page=1") == "tokens=5 page=1"  # a longer name is not a credential


def test_a_password_in_a_url_and_credential_headers_are_masked() -> None:
    assert redact("postgresql://app:hunter22@db.example:5432/ledger") == "postgresql://app:***@db.example:5432/ledger"
    assert redact("Authorization: Bearer eyJhbGciOi.payload") == "Authorization: Bearer ***"
    assert redact("{'x-api-key': 'sk_live_123', 'accept': 'application/json'}") == (
        "{'x-api-key': '***', 'accept': 'application/json'}")
    assert redact('"X-Auth-Token": "tok_456"') == '"X-Auth-Token": "***"'


def test_a_registered_secret_is_masked_wherever_it_appears_also_as_base64_and_url_quoted() -> None:
    secret = unique("sk_")
    register_secret(secret)
    encoded = base64.b64encode(secret.encode()).decode()
    assert redact(f"refused key {secret}!") == f"refused key {MASK}!"
    assert redact(f"Basic {encoded}") == f"Basic {MASK}"
    plus = unique("s+/=")  # base64 of this holds characters a URL quotes
    register_secret(plus)
    quoted = quote(base64.b64encode(plus.encode()).decode(), safe="")
    assert redact(f"q={quoted}") == f"q={MASK}"
    assert redact(f"q={quote(plus, safe='')}") == f"q={MASK}"


def test_a_key_secret_pair_masks_its_basic_credential_and_short_values_are_not_registered() -> None:
    key, secret = unique("ck_"), unique("cs_")
    register_pair(key, secret)
    pair = base64.b64encode(f"{key}:{secret}".encode()).decode()
    assert redact(f"authorization header was {pair}") == f"authorization header was {MASK}"
    register_secret("abc")  # too short to hide without hiding ordinary words
    register_secret(None)
    assert redact("abc abcd") == "abc abcd"


def logger_with_filter() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(unique("test.redaction."))
    logger.propagate = False
    logger.addHandler(handler)
    return logger, out


def test_the_logging_filter_redacts_messages_arguments_and_tracebacks() -> None:
    secret = unique("tok_")
    register_secret(secret)
    logger, out = logger_with_filter()
    logger.warning("calling %s with %s", "https://x.example/?api_key=k123", secret)
    try:
        raise RuntimeError(f"refused {secret}")
    except RuntimeError:
        logger.exception("failed")
    logger.warning("broken %d format", "not a number")  # a bad format string still logs
    text = out.getvalue()
    assert secret not in text and "k123" not in text
    assert "WARNING calling https://x.example/?api_key=*** with ***" in text
    assert "RuntimeError: refused ***" in text
    assert "WARNING broken %d format" in text
