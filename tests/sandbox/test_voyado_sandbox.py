"""The Voyado sandbox: the documented bucket enforced exactly, and every documented answer with its body."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connector.sandbox.voyado import EMAIL_422, ONLY_ONE_422, REQUIRED_422, LeakyBucket, VoyadoSandbox

KEY = "voyado_sandbox_test_key"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def voyado() -> Iterator[VoyadoSandbox]:
    with VoyadoSandbox(KEY) as server:
        yield server
    assert server.errors == []


def post(server: VoyadoSandbox, body: object, key: str | None = KEY, path: str = "/api/v1/contact-details") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.post(f"{server.url}{path}", json=body, headers=headers)


def test_the_bucket_holds_60_and_leaks_one_per_second() -> None:
    clock = Clock()
    bucket = LeakyBucket(60, 1.0, clock=clock)
    assert all(bucket.take() for _ in range(60))
    assert not bucket.take()  # full: the 61st is refused and does not fill it
    clock.now += 0.999
    assert not bucket.take()
    clock.now += 0.001
    assert bucket.take() and not bucket.take()
    clock.now += 30
    assert sum(bucket.take() for _ in range(40)) == 30


def test_a_full_bucket_answers_429_too_many_requests(voyado: VoyadoSandbox) -> None:
    clock = Clock()
    voyado.bucket = LeakyBucket(60, 1.0, clock=clock)
    answers = [post(voyado, {"email": f"c{i}@example.com"}).status_code for i in range(61)]
    assert answers == [404] * 60 + [429]
    refused = post(voyado, {"email": "c@example.com"})
    assert (refused.status_code, refused.json()) == (429, {"message": "TooManyRequests"}) and voyado.refused == 2


@pytest.mark.parametrize(("email", "status", "body"), [
    ("nobody@example.com", 404, {"message": "ContactNotFound"}),
    ("shopify-missing@example.com", 404, {"message": "CustomerNotFoundInShopify"}),
    ("twins@example.com", 409, {"message": "MultipleMatches"}),
    ("badcontact@example.com", 400, {"message": "InvalidContactId"}),
    ("badmail@example.com", 400, {"message": "InvalidEmailAddress"}),
    ("unprocessable@example.com", 422, EMAIL_422),
    ("broken@example.com", 500, {"message": "UnexpectedError"}),
    ("busy@example.com", 429, {"message": "TooManyRequests"}),
    ("not-an-address", 422, EMAIL_422),
])
def test_every_documented_answer_by_email(voyado: VoyadoSandbox, email: str, status: int, body: object) -> None:
    answer = post(voyado, {"email": email})
    assert (answer.status_code, answer.json()) == (status, body)


def test_a_member_gets_a_contact_like_the_documents(voyado: VoyadoSandbox) -> None:
    voyado.add_member("vip@example.com", level="Gold", member_number="38666")
    contact = post(voyado, {"email": "vip@example.com"}).json()["contact"]
    assert (contact["attributes"]["memberNumber"], contact["memberLevel"]) == ("38666", "Gold")
    assert {"voyadoContactId", "bonusPoints", "activePromotions"} <= set(contact)


def test_keys_auth_and_paths(voyado: VoyadoSandbox) -> None:
    assert (post(voyado, {}).status_code, post(voyado, {}).json()) == (422, REQUIRED_422)
    three = {"shopify_customer_id": 8168849, "voyado_contact_id": "4c4a3056", "email": "email@mail.com"}
    assert (post(voyado, three).status_code, post(voyado, three).json()) == (422, ONLY_ONE_422)
    assert post(voyado, {"email": "a@example.com"}, key="wrong").json() == {"message": "Unauthorized"}
    assert post(voyado, {"email": "a@example.com"}, key="wrong").status_code == 401
    assert post(voyado, {"email": "a@example.com"}, key=None).status_code == 403
    assert post(voyado, {"email": "a@example.com"}, path="/api/v2/contacts").json() == {"message": "UrlNotFound"}
    voyado.down = True
    assert post(voyado, {"email": "a@example.com"}).status_code == 503
