"""Voyado look-ups through the CLI over real HTTP: WooCommerce → ledger (+ Voyado) → OrderProtection and Sophio.

Each documented answer, a refused key and a wrong URL (paused loudly, orders still flow), Voyado down while
orders flow under `run`, `preview --loyalty`, and `backfill`'s expected duration of the look-ups.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.ledger import Ledger
from connector.lookups import store
from connector.sandbox import (
    OrderProtectionSandbox,
    SonarIDSandbox,
    SophioSandbox,
    VoyadoSandbox,
    WooCommerceSandbox,
    sample_woocommerce_orders,
)
from connector.sandbox.demo import (
    ORDERPROTECTION_TOKEN,
    SOPHIO_KEY,
    SOPHIO_SECRET,
    fresh_order,
    orderprotection_env,
    sophio_env,
    voyado_env,
)
from tests.e2e.conftest import Connector
from tests.waiting import wait_for

VOYADO_KEY = "voyado_e2e_key"


@pytest.fixture
def orderprotection() -> Iterator[OrderProtectionSandbox]:
    with OrderProtectionSandbox(ORDERPROTECTION_TOKEN) as server:
        yield server
    assert server.errors == []


@pytest.fixture
def sophio() -> Iterator[SophioSandbox]:
    with SophioSandbox(SOPHIO_KEY, SOPHIO_SECRET) as server:
        yield server
    assert server.errors == []


@pytest.fixture
def voyado() -> Iterator[VoyadoSandbox]:
    with VoyadoSandbox(VOYADO_KEY) as server:
        yield server
    assert server.errors == []
    assert server.refused == 0  # the limiter never let a request meet a full bucket


class Loyal(Connector):
    def __init__(self, wc: WooCommerceSandbox, sonarid: SonarIDSandbox, orderprotection: OrderProtectionSandbox,
                 sophio: SophioSandbox, voyado: VoyadoSandbox, tmp: Path, url: str | None = None) -> None:
        super().__init__(wc, sonarid, tmp, url=url)
        self.orderprotection, self.sophio, self.voyado = orderprotection, sophio, voyado
        self.env |= orderprotection_env(orderprotection) | sophio_env(sophio) | voyado_env(voyado)
        self.env |= {"VOYADO_RATE": "20", "VOYADO_WAIT": "3"}

    def order(self, email: str, seed: int = 1) -> str:
        """A paid order of the customer `email`, placed now; its id."""
        raw = fresh_order(sample_woocommerce_orders(1, seed=seed)[0])
        raw["billing"] = {**raw["billing"], "email": email}
        raw["shipping"] = {**raw["shipping"], "first_name": raw["shipping"].get("first_name") or "Ann",
                           "address_1": raw["shipping"].get("address_1") or "1 High St",
                           "city": raw["shipping"].get("city") or "Leeds", "country": raw["shipping"].get("country") or "GB"}
        raw["line_items"] = [{**item, "sku": item.get("sku") or "SKU-1"} for item in raw["line_items"]]
        return str(self.wc.add_order(raw)["id"])

    def op(self, order_id: str) -> dict[str, Any]:
        [body] = [b for b in self.orderprotection.submissions if b["sourceOrderId"] == order_id]
        return body

    def sophio_body(self, order_id: str) -> dict[str, Any]:
        [body] = [b for b in self.sophio.submissions if b["AdvancedOptions"]["customField2"] == order_id]
        return body

    def lookup(self, order_id: str) -> Any:
        ledger = Ledger(self.url)
        try:
            return store.for_order(ledger, "woocommerce", self.wc.url.removeprefix("http://"), order_id)
        finally:
            ledger.close()


@pytest.fixture
def loyal(wc: WooCommerceSandbox, sonarid: SonarIDSandbox, orderprotection: OrderProtectionSandbox,
          sophio: SophioSandbox, voyado: VoyadoSandbox, tmp_path: Path) -> Loyal:
    return Loyal(wc, sonarid, orderprotection, sophio, voyado, tmp_path)


def test_a_members_order_reaches_orderprotection_and_sophio_with_the_membership(loyal: Loyal) -> None:
    loyal.voyado.add_member("vip@example.com", level="Gold", member_number="38666", bonus_points=120)
    first, second, other = loyal.order(" VIP@Example.com "), loyal.order("vip@example.com", seed=2), loyal.order("x@example.com")
    run = loyal("poll")
    assert run.code == 0, run.err
    assert loyal.op(first)["tags"] == loyal.op(second)["tags"] == "voyado-member,voyado-level-gold"
    assert "tags" not in loyal.op(other)
    assert loyal.sophio_body(first)["AdvancedOptions"]["customField3"] == "voyado-member,voyado-level-gold"
    assert "customField3" not in loyal.sophio_body(other)["AdvancedOptions"]
    assert loyal.voyado.lookups == {"vip@example.com": 1, "x@example.com": 1}  # once per customer
    assert "voyado look-ups: 1 member, 1 not_member" in run.out

    shown = loyal("show", first)
    assert shown.code == 0, shown.err
    assert "loyalty: voyado member 38666, level Gold, 120 bonus points, registration complete" in shown.out
    assert "answer 200 contact" in shown.out
    assert "not a member (answer 404 ContactNotFound" in loyal("show", other).out
    status = loyal("status")
    assert "voyado: 1 member, 1 not_member" in status.out and "limiter backlog 0" in status.out
    as_json = json.loads(loyal("status", "--json").out)["lookups"][0]
    assert as_json["outcomes"] == {"member": 1, "not_member": 1} and as_json["backlog"] == 0

    again = loyal("poll")  # nothing new: nothing looked up or sent again
    assert again.code == 0 and loyal.voyado.lookups == {"vip@example.com": 1, "x@example.com": 1}
    assert loyal.orderprotection.submissions_for(first) == 1


def test_on_each_ledger_backend_a_member_is_looked_up_once_and_carried(
        wc: WooCommerceSandbox, sonarid: SonarIDSandbox, orderprotection: OrderProtectionSandbox, sophio: SophioSandbox,
        voyado: VoyadoSandbox, tmp_path: Path, database_url: str) -> None:
    loyal = Loyal(wc, sonarid, orderprotection, sophio, voyado, tmp_path, url=database_url)
    voyado.add_member("vip@example.com", level="Gold")
    ids = [loyal.order("vip@example.com", seed=i) for i in range(3)]
    run = loyal("poll")
    assert run.code == 0, run.err
    assert [loyal.op(i)["tags"] for i in ids] == ["voyado-member,voyado-level-gold"] * 3
    assert voyado.lookups == {"vip@example.com": 1}
    assert "voyado: 1 member" in loyal("status").out


def test_every_documented_answer_through_the_cli(loyal: Loyal) -> None:
    cases = {
        "nobody@example.com": "not a member (answer 404 ContactNotFound",
        "shopify-missing@example.com": "not a member (answer 404 CustomerNotFoundInShopify",
        "twins@example.com": "several contacts match the e-mail (none guessed) (answer 409 MultipleMatches",
        "badcontact@example.com": "look-up refused for this e-mail (not retried) (answer 400 InvalidContactId",
        "badmail@example.com": "look-up refused for this e-mail (not retried) (answer 400 InvalidEmailAddress",
        "unprocessable@example.com": "look-up refused for this e-mail (not retried) (answer 422 The email must be",
        "busy@example.com": "voyado look-up due (attempt 1",  # 429 each time: retried later
        "broken@example.com": "voyado look-up due (attempt 1",  # 500 UnexpectedError each time: retried later
    }
    ids = {email: loyal.order(email, seed=i) for i, email in enumerate(cases)}
    run = loyal("poll", CONNECTOR_RETRY_BASE="3600")
    assert run.code == 0, run.err
    for email, said in cases.items():
        shown = loyal("show", ids[email])
        assert said in shown.out, (email, shown.out)
        assert loyal.orderprotection.submissions_for(ids[email]) == 1  # sent, without the membership after VOYADO_WAIT
        assert "tags" not in loyal.op(ids[email])
    assert "last answer 429 TooManyRequests" in loyal("show", ids["busy@example.com"]).out
    assert "last answer 500 UnexpectedError" in loyal("show", ids["broken@example.com"]).out
    assert loyal.voyado.lookups["busy@example.com"] == loyal.voyado.lookups["broken@example.com"] == 3  # quick tries
    assert all(n == 1 for e, n in loyal.voyado.lookups.items() if e not in ("busy@example.com", "broken@example.com"))
    status = loyal("status").out
    assert "voyado: 1 multiple_matches, 2 not_member, 3 refused" in status, status
    assert "limiter backlog 2:" in status, status  # busy and broken: due again later (or now: full jitter)


@pytest.mark.parametrize(("overrides", "variable", "said"), [
    ({"VOYADO_API_KEY": "wrong-key-e2e"}, "VOYADO_API_KEY", "401 Unauthorized"),
    ({"VOYADO_API_URL": "{url}/v2"}, "VOYADO_API_URL", "404 UrlNotFound"),
])
def test_configuration_answers_pause_the_look_ups_loudly_and_orders_flow(loyal: Loyal, overrides: dict[str, str],
                                                                         variable: str, said: str) -> None:
    ids = [loyal.order(f"c{i}@example.com", seed=i) for i in range(3)]
    run = loyal("poll", VOYADO_WAIT="600", **{k: v.format(url=loyal.voyado.url) for k, v in overrides.items()})
    assert run.code == 1
    assert run.err.count("PAUSED voyado look-ups for this run") == 1 and variable in run.err and said in run.err
    assert "wrong-key-e2e" not in run.out + run.err
    assert all(loyal.orderprotection.submissions_for(i) == 1 for i in ids)  # not held for VOYADO_WAIT: paused
    assert all(loyal.lookup(i).state == "due" for i in ids)  # kept for when the setting is fixed
    fixed = loyal("poll")
    assert fixed.code == 0 and "voyado look-ups: 3 not_member" in fixed.out
    assert all(loyal.orderprotection.submissions_for(i) == 1 for i in ids)  # delivered orders are never resent


DOWN_FOR = 60.0  # seconds Voyado is down while orders keep arriving


def test_voyado_down_while_orders_flow_under_run(loyal: Loyal) -> None:
    import time

    loyal.voyado.add_member("vip@example.com")
    loyal.voyado.down = True
    service = loyal.popen("run", CONNECTOR_POLL_INTERVAL="1", VOYADO_WAIT="2", CONNECTOR_RETRY_BASE="1",
                          CONNECTOR_RETRY_CAP="2", CONNECTOR_LISTEN="")
    try:
        ids = []
        went_down = time.monotonic()
        while time.monotonic() - went_down < DOWN_FOR:
            ids.append(loyal.order("vip@example.com" if len(ids) % 2 else f"c{len(ids)}@example.com", seed=len(ids)))
            wait_for(lambda: loyal.orderprotection.submissions_for(ids[-1]) == 1, "the order sent without its look-up")
        assert all("tags" not in loyal.op(i) for i in ids)
        loyal.voyado.down = False
        wait_for(lambda: all(loyal.lookup(i).state == "done" for i in ids), "the look-ups once Voyado is back",
                 deadline=30)
        late = loyal.order("vip@example.com", seed=99)
        wait_for(lambda: loyal.orderprotection.submissions_for(late) == 1, "a member's order after the outage")
        assert loyal.op(late)["tags"] == "voyado-member,voyado-level-gold"
    finally:
        service.send_signal(signal.SIGTERM)
        _out, err = service.communicate(timeout=60)
    assert service.returncode == 0, err
    assert all(loyal.orderprotection.submissions_for(i) == 1 for i in ids)  # nothing resent when the answers came
    assert "member" in loyal("show", ids[1]).out


def test_preview_with_a_saved_answer(loyal: Loyal, tmp_path: Path) -> None:
    order = fresh_order(sample_woocommerce_orders(1, seed=1)[0]) | {"id": 727, "number": "727",
                                                                    "date_created_gmt": "2026-11-20T10:00:00",
                                                                    "date_modified_gmt": "2026-11-20T10:00:00"}
    (tmp_path / "order.json").write_text(json.dumps(order))
    answer = loyal.voyado.contact(loyal.voyado.add_member("vip@example.com", level="Silver"))
    (tmp_path / "answer.json").write_text(json.dumps(answer))
    run = loyal("preview", "--source", "woocommerce", "--destination", "orderprotection", "--loyalty",
                str(tmp_path / "answer.json"), str(tmp_path / "order.json"))
    assert run.code == 0, run.err
    assert json.loads(run.out)["tags"] == "voyado-member,voyado-level-silver"
    (tmp_path / "bad.json").write_text(json.dumps({"message": "Unauthorized"}))
    bad = loyal("preview", "--source", "woocommerce", "--destination", "sophio", "--loyalty", str(tmp_path / "bad.json"),
                str(tmp_path / "order.json"))
    assert bad.code == 2 and "--loyalty" in bad.err and "contact-details answer" in bad.err


def test_check_names_voyado_and_the_demo_shows_a_members_order_with_its_tags(loyal: Loyal) -> None:
    checked = loyal("check")
    assert checked.code == 0, checked.err
    assert f"ok voyado: enabled, {loyal.voyado.url}" in checked.out
    demo = loyal("demo")
    assert demo.code == 0, demo.err
    assert "A member's order reached OrderProtection" in demo.out and "tags 'voyado-member,voyado-level-gold'" in demo.out
    assert "0 answered 429" in demo.out


def test_backfill_shows_the_look_ups_expected_duration(loyal: Loyal) -> None:
    for i in range(6):
        loyal.order(f"c{i % 4}@example.com", seed=i)
    run = loyal("backfill", "--since", "2020-01-01", VOYADO_RATE="0.8")
    assert run.code == 0, run.err
    assert "voyado: 4 look-ups to make, about 0s at VOYADO_RATE=0.8/s with a burst of 48" in run.err
    assert "voyado look-ups: 4 not_member" in run.out
    assert len(loyal.voyado.lookups) == 4
