"""Voyado look-ups: every documented answer, the one-key body, the settings, the limiter against an exact bucket,
and the look-ups in the ledger (once per e-mail per day; deliveries wait for them at most VOYADO_WAIT)."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connector.adapters import ConfigError, Reader, Secret
from connector.ledger import Ledger, Lookup
from connector.lookups import store, voyado
from connector.lookups.voyado import Voyado, VoyadoSettings, classify, from_env
from connector.lookups.worker import Looker
from connector.orders import Loyalty, Order
from connector.outcomes import Outcome
from connector.sandbox.voyado import EMAIL_422, ONLY_ONE_422, REQUIRED_422, LeakyBucket, VoyadoSandbox

DOC_200 = {"contact": {
    "shopifyCustomerId": 7003125834402, "voyadoContactId": "c6704444-624a-4f02-aace-daa416451f3c",
    "attributes": {"firstName": "Test", "lastName": "Test", "street": "123 test street", "zipCode": "WV2 3DE",
                   "city": "Wolverhampton", "email": "test-email@mailcom", "mobilePhone": "+7777745214",
                   "memberNumber": "38666", "isRegistrationCompleted": False, "bonusPoints": 0},
    "bonusPoints": 0, "memberLevel": None, "activeLoyaltyVouchers": [], "activePromotions": [{"name": "Test promotion"}],
}}


def answer(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("POST", "https://voyado.test/api/v1/contact-details"))


def test_a_200_keeps_the_contacts_kept_fields_and_nothing_personal() -> None:
    result = classify(answer(200, DOC_200))
    assert result.outcome is Outcome.DELIVERED and result.final
    assert result.loyalty == Loyalty(outcome="member", contact_id="c6704444-624a-4f02-aace-daa416451f3c",
                                     member_number="38666", level="", bonus_points=Decimal("0"),
                                     registration_complete=False)
    kept = result.loyalty.model_dump_json() if result.loyalty else ""
    for personal in ("Test", "Wolverhampton", "WV2", "+7777745214", "test-email", "promotion", "7003125834402"):
        assert personal not in kept


def test_a_level_is_kept_as_a_string_or_by_its_name() -> None:
    gold = DOC_200 | {"contact": DOC_200["contact"] | {"memberLevel": "Gold", "bonusPoints": 120.5}}
    result = classify(answer(200, gold))
    assert result.loyalty is not None and (result.loyalty.level, result.loyalty.bonus_points) == ("Gold", Decimal("120.5"))
    assert result.loyalty.tags() == ("voyado-member", "voyado-level-gold")
    named = DOC_200 | {"contact": DOC_200["contact"] | {"memberLevel": {"id": "l2", "name": "Silver Plus"}}}
    assert (classify(answer(200, named)).loyalty or Loyalty(outcome="failed")).tags()[-1] == "voyado-level-silver-plus"


@pytest.mark.parametrize(("status", "body", "outcome", "kept", "variable"), [
    (404, {"message": "ContactNotFound"}, Outcome.PERMANENT, "not_member", ""),
    (404, {"message": "CustomerNotFoundInShopify"}, Outcome.PERMANENT, "not_member", ""),
    (404, {"message": "UrlNotFound"}, Outcome.CONFIG, None, "VOYADO_API_URL"),
    (401, {"message": "Unauthorized"}, Outcome.AUTH, None, "VOYADO_API_KEY"),
    (403, {"message": "Unauthenticated"}, Outcome.AUTH, None, "VOYADO_API_KEY"),
    (409, {"message": "MultipleMatches"}, Outcome.PERMANENT, "multiple_matches", ""),
    (400, {"message": "InvalidContactId"}, Outcome.PERMANENT, "refused", ""),
    (400, {"message": "InvalidEmailAddress"}, Outcome.PERMANENT, "refused", ""),
    (422, REQUIRED_422, Outcome.PERMANENT, "refused", ""),
    (422, ONLY_ONE_422, Outcome.PERMANENT, "refused", ""),
    (422, EMAIL_422, Outcome.PERMANENT, "refused", ""),
    (429, {"message": "TooManyRequests"}, Outcome.TRANSIENT, None, ""),
    (500, {"message": "UnexpectedError"}, Outcome.TRANSIENT, None, ""),
])
def test_every_documented_answer(status: int, body: Any, outcome: Outcome, kept: str | None, variable: str) -> None:
    result = classify(answer(status, body))
    assert (result.outcome, result.loyalty.outcome if result.loyalty else None, result.variable) == (outcome, kept, variable)
    assert result.status_code == status and result.word == body["message"][:200]


def test_a_404_that_is_not_voyados_answer_is_the_url() -> None:
    page = httpx.Response(404, text="<html>Not Found</html>", request=httpx.Request("POST", "https://x.test/"))
    assert (classify(page).outcome, classify(page).variable) == (Outcome.CONFIG, "VOYADO_API_URL")


def test_the_body_has_exactly_one_key_the_normalised_email() -> None:
    assert Voyado.body("  Ann.Smith@Example.COM ") == {"email": "ann.smith@example.com"}


def test_settings() -> None:
    assert from_env(Reader({})) is None
    settings = from_env(Reader({"VOYADO_API_KEY": "k"}))
    assert settings == VoyadoSettings(api_key=Secret("k"), url="https://live.voyado.eastsideapps.io", wait=120.0, rate=0.8)
    assert settings.burst == 48 and settings.seconds_for(3000) == pytest.approx((3000 - 48) / 0.8)
    assert VoyadoSettings(api_key=Secret("k"), rate=0.25).burst == 15
    for variable, value in (("VOYADO_RATE", "0"), ("VOYADO_RATE", "fast"), ("VOYADO_WAIT", "-1"), ("VOYADO_API_URL", "ftp://x")):
        with pytest.raises(ConfigError) as refused:
            from_env(Reader({"VOYADO_API_KEY": "k", variable: value}))
        assert refused.value.variable == variable


def _hammer(bucket: LeakyBucket, acquire: Any, requests: int, threads: int = 6) -> int:
    """`requests` arrivals at `bucket` from `threads` threads, each after `acquire()`; returns the refusals."""
    refused = [0]
    lock = threading.Lock()
    left = [requests]

    def run() -> None:
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            acquire()
            if not bucket.take():
                with lock:
                    refused[0] += 1

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return refused[0]


def test_the_shared_limiter_never_overflows_an_exact_bucket() -> None:
    # scaled: the bucket refills 50/s (not 1/s) and we spend 40/s (not 0.8/s), the same shares as the defaults
    settings = VoyadoSettings(api_key=Secret("k"), rate=40.0)
    limiter = voyado.limiter(settings)
    assert settings.burst == 48
    assert _hammer(LeakyBucket(60, 50.0), lambda: limiter.try_acquire("voyado"), 200) == 0
    assert _hammer(LeakyBucket(60, 50.0), lambda: None, 200) > 0  # without it the same load overflows


# -- the ledger ------------------------------------------------------------------------------------

def order(order_id: str, email: str = "ann@example.com") -> Order:
    now = datetime.now(UTC)
    return Order.model_validate({"source": "woocommerce", "store": "shop", "id": order_id, "number": order_id,
                                 "status": "processing", "created_at": now, "modified_at": now, "currency": "USD",
                                 "total": "10.00", "subtotal": "10.00", "customer": {"email": email}})


def linked_ledger(url: str) -> Ledger:
    ledger = Ledger(url)
    ledger.enqueue_hooks.append(store.linker("voyado", voyado.order_email, voyado.FRESH_FOR))
    return ledger


def test_a_delivery_waits_for_the_look_up_at_most_the_wait(database_url: str) -> None:
    ledger = linked_ledger(database_url)
    try:
        ledger.enqueue("woocommerce", "shop", [order("1"), order("2", email="")], ["orderprotection"])
        assert [c.order.id for c in ledger.claim("orderprotection", 10, lease=60, lookup_wait=120)] == ["2"]
        assert ledger.held_for_lookups(["orderprotection"], 120) == 1
        later = datetime.now(UTC) + timedelta(seconds=121)
        [late] = ledger.claim("orderprotection", 10, lease=60, lookup_wait=120, now=later)  # waited long enough
        assert (late.order.id, late.order.loyalty) == ("1", None)
    finally:
        ledger.close()


def test_an_answered_look_up_is_carried_and_reused_for_a_day(database_url: str) -> None:
    ledger = linked_ledger(database_url)
    try:
        ledger.enqueue("woocommerce", "shop", [order("1", email=" Ann@Example.com")], ["orderprotection"])
        [claimed] = store.claim(ledger, "voyado", 10, lease=60)
        assert claimed.key == "ann@example.com" and store.claim(ledger, "voyado", 10, lease=60) == []
        store.record(ledger, claimed.id, loyalty=Loyalty(outcome="member", level="gold"), answer="contact", status_code=200)
        [delivery] = ledger.claim("orderprotection", 10, lease=60, lookup_wait=120)
        assert delivery.order.loyalty == Loyalty(outcome="member", level="gold")
        ledger.enqueue("woocommerce", "shop", [order("2")], ["orderprotection"])  # the same customer, the same day
        assert store.due(ledger, "voyado") == 0
        assert [c.order.loyalty for c in ledger.claim("orderprotection", 10, lease=60, lookup_wait=120)] == [
            Loyalty(outcome="member", level="gold")]
        with ledger.write() as s:  # a day later
            row = s.get(Lookup, claimed.id)
            assert row is not None
            row.fetched_at = datetime.now(UTC) - timedelta(days=1, seconds=1)
            s.add(row)
        ledger.enqueue("woocommerce", "shop", [order("3")], ["orderprotection"])
        assert store.due(ledger, "voyado") == 1
        assert ledger.claim("orderprotection", 10, lease=60, lookup_wait=120) == []  # the new order waits for it
    finally:
        ledger.close()


# -- the worker against the sandbox ----------------------------------------------------------------

@pytest.fixture
def sandbox() -> Any:
    with VoyadoSandbox("vk") as server:
        yield server
    assert server.errors == []


def looker(ledger: Ledger, server: VoyadoSandbox, key: str = "vk") -> Looker:
    settings = VoyadoSettings(api_key=Secret(key), url=server.url, rate=50.0)
    return Looker(ledger, Voyado(settings), voyado.limiter(settings), retry_base=0.0, quick_wait=0.01)


def test_the_worker_records_each_answer_once_per_email(sandbox: VoyadoSandbox, tmp_path: Any) -> None:
    ledger = linked_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    sandbox.add_member("vip@example.com", level="gold")
    emails = ["vip@example.com", "nobody@example.com", "shopify-missing@example.com", "twins@example.com",
              "badmail@example.com", "badcontact@example.com", "unprocessable@example.com"]
    try:
        ledger.enqueue("woocommerce", "shop", [order(str(i), e) for i, e in enumerate([*emails, "VIP@example.com"])],
                       ["orderprotection"])
        report = looker(ledger, sandbox).run_due()
        assert dict(report.outcomes) == {"member": 1, "not_member": 2, "multiple_matches": 1, "refused": 3}
        assert sandbox.lookups == dict.fromkeys(emails, 1)
        assert sorted(json.loads(r.body)["email"] for r in sandbox.requests) == sorted(emails)
        assert all(list(json.loads(r.body)) == ["email"] for r in sandbox.requests)  # exactly one key
        assert store.for_order(ledger, "woocommerce", "shop", "7").outcome == "member"  # type: ignore[union-attr]
    finally:
        ledger.close()


def test_a_refused_key_pauses_the_look_ups_loudly_and_keeps_them(sandbox: VoyadoSandbox, tmp_path: Any,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    ledger = linked_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    try:
        ledger.enqueue("woocommerce", "shop", [order(str(i), f"c{i}@example.com") for i in range(5)], ["orderprotection"])
        worker = looker(ledger, sandbox, key="wrong")
        report = worker.run_due()
        assert report.paused and "VOYADO_API_KEY" in report.paused and "401 Unauthorized" in report.paused
        assert len([r for r in caplog.records if "PAUSED voyado" in r.getMessage()]) == 1
        assert store.due(ledger, "voyado") == 5 and "wrong" not in caplog.text
    finally:
        ledger.close()


def test_a_transient_answer_is_retried_then_waits(sandbox: VoyadoSandbox, tmp_path: Any) -> None:
    ledger = linked_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    try:
        sandbox.faults.add("status", times=2, status=500)
        ledger.enqueue("woocommerce", "shop", [order("1", "nobody@example.com")], ["orderprotection"])
        assert dict(looker(ledger, sandbox).run_due().outcomes) == {"not_member": 1}  # the third quick try
        sandbox.down = True
        ledger.enqueue("woocommerce", "shop", [order("2", "other@example.com")], ["orderprotection"])
        worker = looker(ledger, sandbox)
        worker.retry_base = 3600.0
        assert dict(worker.run_due().outcomes) == {"retrying": 1}
        row = store.for_order(ledger, "woocommerce", "shop", "2")
        assert row is not None and row.state == "due" and row.status_code == 503 and row.first_failed_at is not None
    finally:
        ledger.close()


def test_the_limiter_in_the_ledger_is_one_bucket_for_every_process(database_url: str) -> None:
    from connector.lookups.limiter import shared

    first, second = Ledger(database_url), Ledger(database_url)  # two processes' ledgers: separate engines
    try:
        a, b = shared(first, "voyado", 0.001, 3), shared(second, "voyado", 0.001, 3)
        assert [a.try_acquire("voyado", blocking=False), b.try_acquire("voyado", blocking=False),
                a.try_acquire("voyado", blocking=False)] == [True, True, True]
        assert not b.try_acquire("voyado", blocking=False) and not a.try_acquire("voyado", blocking=False)
        a.close()
        b.close()
    finally:
        first.close()
        second.close()


def test_two_limiters_on_one_ledger_never_overflow_an_exact_bucket(tmp_path: Any) -> None:
    from connector.lookups.limiter import shared

    ledgers = [Ledger(f"sqlite:///{tmp_path / 'l.db'}") for _ in range(2)]
    try:
        settings = VoyadoSettings(api_key=Secret("k"), rate=40.0)  # scaled as above: refill 50/s, 40/s spent
        limiters = [shared(ledger, "voyado", settings.rate, settings.burst) for ledger in ledgers]
        bucket = LeakyBucket(60, 50.0)
        turn = itertools.count()  # next() on it is atomic, unlike a generator's
        assert _hammer(bucket, lambda: limiters[next(turn) % 2].try_acquire("voyado"), 200) == 0
    finally:
        for ledger in ledgers:
            ledger.close()


def test_the_destinations_carry_the_membership_in_their_free_form_fields() -> None:
    from connector.destinations.orderprotection import tags
    from connector.destinations.sophio import loyalty

    member = order("1").model_copy(update={"tags": ("gift", " "), "loyalty": Loyalty(outcome="member", level="Gold")})
    assert tags(member) == "gift,voyado-member,voyado-level-gold" and loyalty(member) == "voyado-member,voyado-level-gold"
    for outcome in ("not_member", "multiple_matches", "refused", "failed"):
        other = order("2").model_copy(update={"loyalty": Loyalty(outcome=outcome)})  # type: ignore[arg-type]
        assert (tags(other), loyalty(other)) == ("", None)
    assert (tags(order("3")), loyalty(order("3"))) == ("", None)  # not looked up (yet)
