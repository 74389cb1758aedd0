"""A simulated Voyado: ``POST /api/v1/contact-details`` as `shared/api-docs/voyado-contact-details-api.txt` describes it.

Documented, and done here: Bearer auth; the leaky bucket (size 60, refilled 1 per second; both settable for
scaled benchmarks), enforced exactly: a request that finds the bucket full is answered 429
``{"message": "TooManyRequests"}`` and does not fill it; the body's one key (none → the first 422, more
than one → the second, a malformed e-mail → the third); and every documented answer with its documented body.

Which answer an e-mail gets (`answer_for`): the members added with `add_member` get a 200 contact like the
document's; the rules added with `answer` (a regular expression on the e-mail → status and message) come
next; then the built-in rules on the e-mail's local part: ``shopify-missing…`` → 404
CustomerNotFoundInShopify, ``twins…`` → 409 MultipleMatches, ``badcontact…`` → 400 InvalidContactId,
``badmail…`` → 400 InvalidEmailAddress, ``unprocessable…`` → 422, ``broken…`` → 500 UnexpectedError,
``busy…`` → 429 TooManyRequests; anything else is 404 ContactNotFound. Not documented, so assumed: a missing
bearer is 403 ``Unauthenticated``, a wrong one 401 ``Unauthorized``; any other path is 404 ``UrlNotFound``.
`down = True` answers every request 503 with an HTML page, as a load balancer in front of a service that is down.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connector.sandbox.server import RecordedRequest, Response, SandboxServer

PATH = "/api/v1/contact-details"
KEYS = ("shopify_customer_id", "voyado_contact_id", "email")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

REQUIRED_422 = {
    "message": "The shopify customer id field is required when none of voyado contact id / email are present. "
               "(and 2 more errors)",
    "errors": {
        "shopify_customer_id": ["The shopify customer id field is required when none of voyado contact id / email are present."],
        "voyado_contact_id": ["The voyado contact id field is required when none of shopify customer id / email are present."],
        "email": ["The email field is required when none of shopify customer id / voyado contact id are present."],
    },
}
ONLY_ONE_422 = {
    "message": "Only one of shopify_customer_id, voyado_contact_id, email is allowed. (and 1 more error)",
    "errors": {
        "shopify_customer_id": ["Only one of shopify_customer_id, voyado_contact_id, email is allowed."],
        "email": ["Only one of email, shopify_customer_id, voyado_contact_id is allowed."],
    },
}
EMAIL_422 = {"message": "The email must be a valid email address.",
             "errors": {"email": ["The email must be a valid email address."]}}
BUILT_IN: tuple[tuple[str, int, str], ...] = (
    (r"^shopify-missing", 404, "CustomerNotFoundInShopify"),
    (r"^twins", 409, "MultipleMatches"),
    (r"^badcontact", 400, "InvalidContactId"),
    (r"^badmail", 400, "InvalidEmailAddress"),
    (r"^unprocessable", 422, ""),
    (r"^broken", 500, "UnexpectedError"),
    (r"^busy", 429, "TooManyRequests"),
)


class LeakyBucket:
    """The documented bucket: `size` requests, leaking `refill` per second; thread-safe, exact (monotonic clock)."""

    def __init__(self, size: int = 60, refill: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.size, self.refill, self.clock = size, refill, clock
        self.level = 0.0
        self._at = clock()
        self._lock = threading.Lock()
        self.peak = 0.0

    def take(self) -> bool:
        """Room for one more request: True (and it is counted), or False (full: a 429)."""
        with self._lock:
            now = self.clock()
            self.level = max(0.0, self.level - (now - self._at) * self.refill)
            self._at = now
            if self.level + 1 > self.size + 1e-9:
                return False
            self.level += 1
            self.peak = max(self.peak, self.level)
            return True

    def fill(self, requests: int) -> None:
        """The store's own use of the key, spent at once."""
        with self._lock:
            self.level = min(float(self.size), self.level + requests)


@dataclass(frozen=True)
class Member:
    email: str
    contact_id: str
    member_number: str
    level: str | None
    bonus_points: int
    registration_complete: bool


class VoyadoSandbox(SandboxServer):
    """Voyado on 127.0.0.1. ``lookups`` counts the answered requests per e-mail; ``refused`` the 429s."""

    def __init__(self, api_key: str = "voyado_sandbox_key", *, bucket_size: int = 60, refill: float = 1.0) -> None:
        super().__init__()
        self.api_key = api_key
        self.bucket = LeakyBucket(bucket_size, refill)
        self.members: dict[str, Member] = {}
        self.rules: list[tuple[re.Pattern[str], int, str]] = []
        self.down = False
        self.refused = 0  # 429s for a full bucket
        self.lookups: dict[str, int] = {}
        self._lock = threading.Lock()

    def add_member(self, email: str, *, level: str | None = "gold", member_number: str | None = None,
                   bonus_points: int = 120, registration_complete: bool = True) -> Member:
        number = member_number or str(38666 + len(self.members))
        member = Member(email.lower(), str(uuid.uuid5(uuid.NAMESPACE_URL, email.lower())), number, level, bonus_points,
                        registration_complete)
        self.members[member.email] = member
        return member

    def answer(self, pattern: str, status: int, message: str) -> None:
        """E-mails matching `pattern` (re.search, lower-cased) get `status` with `{"message": message}`."""
        self.rules.append((re.compile(pattern), status, message))

    def error_response(self, status: int, headers: list[tuple[str, str]] | None = None) -> Response:
        words = {429: "TooManyRequests", 401: "Unauthorized", 403: "Unauthenticated", 404: "UrlNotFound"}
        return Response.json(status, {"message": words.get(status, "UnexpectedError")}, headers)

    def handle(self, request: RecordedRequest) -> Response:
        if self.down:
            return Response(503, b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                            [("Content-Type", "text/html")])
        if request.path.rstrip("/") != PATH or request.method != "POST":
            return Response.json(404, {"message": "UrlNotFound"})
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Response.json(403, {"message": "Unauthenticated"})
        if not hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
            return Response.json(401, {"message": "Unauthorized"})
        if not self.bucket.take():
            with self._lock:
                self.refused += 1
            return Response.json(429, {"message": "TooManyRequests"})
        try:
            body = json.loads(request.body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = {}
        given = [key for key in KEYS if isinstance(body, dict) and body.get(key) not in (None, "")]
        if not given:
            return Response.json(422, REQUIRED_422)
        if len(given) > 1:
            return Response.json(422, ONLY_ONE_422)
        if given != ["email"]:
            return Response.json(404, {"message": "ContactNotFound"})  # this sandbox knows its contacts by e-mail
        email = str(body["email"])
        if not _EMAIL.match(email):
            return Response.json(422, EMAIL_422)
        with self._lock:
            self.lookups[email] = self.lookups.get(email, 0) + 1
        status, payload = self.answer_for(email)
        return Response.json(status, payload)

    def answer_for(self, email: str) -> tuple[int, dict[str, Any]]:
        key = email.lower()
        member = self.members.get(key)
        if member is not None:
            return 200, self.contact(member)
        for pattern, status, message in self.rules:
            if pattern.search(key):
                return status, {"message": message}
        local = key.split("@", 1)[0]
        for prefix, status, message in BUILT_IN:
            if re.search(prefix, local):
                return status, ({"message": message} if status != 422 else EMAIL_422)
        return 404, {"message": "ContactNotFound"}

    @staticmethod
    def contact(member: Member) -> dict[str, Any]:
        """A 200 answer shaped like the document's example (with its personal data, which the client must drop)."""
        return {"contact": {
            "shopifyCustomerId": 7003125834402,
            "voyadoContactId": member.contact_id,
            "attributes": {
                "firstName": "Test", "lastName": "Test", "street": "123 test street", "zipCode": "WV2 3DE",
                "city": "Wolverhampton", "email": member.email, "mobilePhone": "+7777745214", "countryCode": "GB",
                "rfm": None, "careOf": None, "country": "United Kingdom", "age": None, "birthDay": None,
                "externalId": "7003125834402", "socialSecurityNumber": None, "gender": None, "discoveryKey": None,
                "memberNumber": member.member_number, "language": "en", "lang": None, "annualBirthDay": None,
                "isRegistrationCompleted": member.registration_complete, "registrationDate": "2023-10-04T21:35:34+02:00",
                "bonusPoints": member.bonus_points, "secrecyMarked": False,
                "currentStore": {"id": "2024bac4-a596-4fc4-83c2-3c5bddf6737c", "name": "UK store", "externalId": "ecom-uk"},
            },
            "bonusPoints": member.bonus_points,
            "memberLevel": member.level,
            "activeLoyaltyVouchers": [],
            "activePromotions": [{"id": "a8d78653-3d33-4284-8a61-e373e51ca096", "name": "Test promotion",
                                  "heading": "test 10%", "redeemed": False}],
            "syncFailedActivePromotions": [],
            "syncFailedActiveLoyaltyVouchers": [],
        }}

    def lookups_for(self, email: str) -> int:
        with self._lock:
            return self.lookups.get(email, 0)
