"""Malformed orders among good ones, through the CLI against the sandbox stores.

For every input of the corpus, one bad order sits between two good ones (the store sends it in a
shape it could never hold: `serve_as`). One store per platform holds the whole corpus, so the CLI
runs once per platform: `poll`, `status --json`, then `backfill` into a second ledger. Each run
must exit 0; each bad order must be recorded with a reason naming the field (`dead` for sonarID,
listed by `status --json`) or, for a row with no usable order id, be logged and counted; and every
good order must be delivered exactly once per ledger (counted at the sonarID sandbox per order id).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import cycle
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from connector.ledger import Delivery, Ledger, OrderRecord
from connector.sandbox import (
    BigCommerceSandbox,
    SonarIDSandbox,
    WooCommerceSandbox,
    sample_bigcommerce_orders,
    sample_woocommerce_orders,
)
from connector.sandbox.demo import BC_HASH, BC_TOKEN, SONARID_KEY, WC_KEY, WC_SECRET, fresh_order
from tests.e2e.conftest import Connector, Run

Edit = Callable[[Any], Any]
UNREADABLE = "no usable order id"  # the row cannot be recorded: logged and counted


def setting(path: str, value: Any) -> Edit:
    """The order as sent, with `path` ("billing.first_name", "line_items.0.quantity") set to `value`."""

    def edit(data: Any) -> Any:
        *parents, last = path.split(".")
        target = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[int(last) if isinstance(target, list) else last] = copy.deepcopy(value)
        return data

    return edit


def dropping(key: str) -> Edit:
    return lambda data: {k: v for k, v in data.items() if k != key}


def replacing(value: Any) -> Edit:
    return lambda _data: copy.deepcopy(value)


@dataclass(frozen=True)
class Case:
    name: str
    edit: Edit
    expect: str  # a word the recorded reason must contain (the field), or UNREADABLE
    resource: str | None = None  # BigCommerce: edit this sub-resource's rows instead of the order row
    stored: dict[str, Any] = field(default_factory=dict)  # changes to the stored order (what the store filters on)


HUGE = "1" + "0" * 30  # 10^30

WOOCOMMERCE_CASES = [
    Case("total-1e30-as-text", setting("total", HUGE), "total"),
    Case("total-1e30-as-number", setting("total", 10**30), "total"),
    Case("total-1e300-float", setting("total", 1e300), "total"),
    Case("total-exponent-1e999999", setting("total", "1e999999"), "total"),
    Case("total-NaN-text", setting("total", "NaN"), "total"),
    Case("total-negative", setting("total", "-12.00"), "total"),
    Case("total-true", setting("total", True), "total"),
    Case("total-object", setting("total", {"amount": "12.00"}), "total"),
    Case("quantity-negative", setting("line_items.0.quantity", -1), "line_items[0].quantity"),
    Case("quantity-1e30", setting("line_items.0.quantity", 10**30), "line_items[0].quantity"),
    Case("quantity-text", setting("line_items.0.quantity", "2"), "line_items[0].quantity"),
    Case("date_created-words", setting("date_created_gmt", "yesterday"), "date_created_gmt"),
    Case("date_created-null", setting("date_created_gmt", None), "date_created_gmt"),
    Case("date_created-year-1-with-offset", setting("date_created_gmt", "0001-01-01T00:00:00+05:00"), "date_created_gmt"),
    Case("date_modified-missing", dropping("date_modified_gmt"), "date_modified_gmt"),
    Case("billing-string", setting("billing", "Harper O'Brien"), "billing"),
    Case("billing.email-array", setting("billing.email", ["a@example.com"]), "billing.email"),
    Case("first_name-lone-surrogate", setting("billing.first_name", "Pedro \ud83d"), "first_name"),
    Case("last_name-NUL", setting("billing.last_name", "Cos\x00ta"), "last_name"),
    Case("customer_note-low-surrogate", setting("customer_note", "ring twice \udc00"), "note"),
    Case("item-name-lone-surrogate", setting("line_items.0.name", "Mug \ud800"), "items[0].name"),
    Case("first_name-200000-characters", setting("billing.first_name", "A" * 200_000), "first_name"),
    Case("line_items-object", setting("line_items", {"4101": {"quantity": 1}}), "line_items"),
    Case("line_items-string", setting("line_items", "Mug x1"), "line_items"),
    Case("line_item-string", setting("line_items", ["Mug x1"]), "line_items[0]"),
    Case("shipping_lines-object", setting("shipping_lines", {"method_title": "Flat rate"}), "shipping_lines"),
    Case("fee_lines-string", setting("fee_lines", "gift wrap"), "fee_lines"),
    Case("currency-number", setting("currency", 840), "currency"),
    Case("currency-words", setting("currency", "US dollars"), "currency"),
    Case("status-array", setting("status", ["processing"]), "status"),
    Case("row-without-id", dropping("id"), UNREADABLE),
    Case("row-id-object", setting("id", {"$oid": "65f0"}), UNREADABLE),
    Case("row-string", replacing("order 1003"), UNREADABLE),
    Case("row-null", replacing(None), UNREADABLE),
]

BIGCOMMERCE_CASES = [
    Case("total_inc_tax-1e30-as-text", setting("total_inc_tax", HUGE), "total_inc_tax"),
    Case("total_inc_tax-1e30-as-number", setting("total_inc_tax", 10**30), "total_inc_tax"),
    Case("total_inc_tax-NaN-text", setting("total_inc_tax", "NaN"), "total_inc_tax"),
    Case("total_inc_tax-negative", setting("total_inc_tax", "-126.0000"), "total_inc_tax"),
    Case("subtotal_ex_tax-object", setting("subtotal_ex_tax", {"value": "86.0000"}), "subtotal_ex_tax"),
    Case("status_id-words", setting("status_id", "eleven"), "status_id"),
    Case("date_created-words", setting("date_created", "not a date"), "date_created"),
    Case("date_created-past-year-9999-in-UTC", setting("date_created", "Fri, 31 Dec 9999 23:00:00 -0500"), "date_created"),
    Case("date_modified-null", setting("date_modified", None), "date_modified"),
    Case("billing_address-string", setting("billing_address", "14 Deansgate"), "billing_address"),
    Case("billing_address.email-object", setting("billing_address.email", {"a": 1}), "billing_address.email"),
    Case("first_name-lone-surrogate", setting("billing_address.first_name", "Sophia \ud83d"), "first_name"),
    Case("last_name-NUL", setting("billing_address.last_name", "Cl\x00ark"), "last_name"),
    Case("first_name-200000-characters", setting("billing_address.first_name", "A" * 200_000), "first_name"),
    Case("customer_message-lone-surrogate", setting("customer_message", "thanks \udbff"), "note"),
    Case("default_currency_code-number", setting("default_currency_code", 840), "default_currency_code"),
    Case("fees-object", setting("fees", {"name": "gift wrap"}), "fees"),
    Case("row-without-id", dropping("id"), UNREADABLE),
    Case("row-id-object", setting("id", {"id": 103}), UNREADABLE),
    Case("row-string", replacing("order 103"), UNREADABLE),
    Case("shipping_addresses-object", replacing({"id": 1, "street_1": "14 Deansgate"}), "shipping_addresses",
         resource="shipping_addresses"),
    Case("shipping_addresses-of-strings", replacing(["14 Deansgate"]), "shipping_addresses",
         resource="shipping_addresses"),
    Case("coupons-object", replacing({"code": "SAVE5", "discount": "5.0000"}), "coupons", resource="coupons",
         stored={"coupon_discount": "5.0000"}),
    Case("products-string", replacing("Stoneware Mug x2"), "products", resource="products"),
    Case("products-quantity-1e30", setting("0.quantity", 10**30), "products[0].quantity", resource="products"),
    Case("products-price-NaN", setting("0.price_ex_tax", "NaN"), "products[0].price_ex_tax", resource="products"),
    Case("products-name-lone-surrogate", setting("0.name_customer", "Mug \ud83d"), "items[0].name",
         resource="products"),
]


def named(case: Case) -> str:
    return case.name


# -- one store per platform with the whole corpus, read once by each command ---------------------

@dataclass
class Outcome:
    """What the CLI did with one platform's corpus store."""

    prefix: str  # sonarID's order id prefix
    bad: dict[str, int]  # case name → its order id
    good: list[int]
    runs: dict[str, Run]  # "poll", "backfill"
    sent: dict[str, dict[int, int]]  # after "poll" / "backfill": sonarID submissions per order id
    deliveries: dict[str, dict[str, Delivery]]  # per ledger: sonarID delivery per order id
    records: dict[str, dict[str, OrderRecord]]  # per ledger: order record per order id
    status: dict[str, Any]  # `status --json` of the poll's ledger
    table: Run  # `status` of the poll's ledger


def corpus_run(connector: Connector, cases: list[Case], add: Callable[[int, Case | None], int],
               serve: Callable[[int, Case], None], prefix: str) -> Outcome:
    """good, bad, good, bad, …, good: every bad order between two good ones."""
    good = [add(0, None)]
    bad: dict[str, int] = {}
    for index, case in enumerate(cases, start=1):
        bad[case.name] = add(index, case)
        serve(bad[case.name], case)
        good.append(add(index, None))
    everyone = [*good, *bad.values()]
    runs, sent, deliveries, records = {}, {}, {}, {}
    second = connector.tmp / "backfill.db"  # a second ledger: the same orders, read by creation date
    since = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    for name, args, database in (("poll", ("poll",), connector.database),
                                 ("backfill", ("backfill", "--since", since), second)):
        runs[name] = connector(*args, CONNECTOR_DATABASE_URL=f"sqlite:///{database}")
        sent[name] = {i: connector.sonarid.submissions_for(f"{prefix}_{i}") for i in everyone}
        ledger = Ledger(f"sqlite:///{database}")
        try:
            deliveries[name] = {row.order_id: row for row in ledger.deliveries(destination="sonarid")}
            with ledger.read() as session:
                records[name] = {r.order_id: r for r in session.exec(select(OrderRecord)).all()}
        finally:
            ledger.close()
    shown = connector("status", "--json")
    assert shown.code == 0, shown.err
    return Outcome(prefix, bad, good, runs, sent, deliveries, records, json.loads(shown.out), connector("status"))


def sendable(orders: list[dict[str, Any]], address: str) -> Iterator[dict[str, Any]]:
    """Sample orders with everything sonarID needs, over and over."""
    return cycle([o for o in orders if o[address]["email"] and o[address]["first_name"] and o[address]["last_name"]])


@pytest.fixture(scope="module")
def woocommerce(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    with WooCommerceSandbox(WC_KEY, WC_SECRET) as wc, SonarIDSandbox(SONARID_KEY) as sonarid:
        connector = Connector(wc, sonarid, tmp_path_factory.mktemp("woocommerce"))
        templates = sendable(sample_woocommerce_orders(24, seed=41), "billing")
        yield corpus_run(connector, WOOCOMMERCE_CASES, lambda _i, _case: wc.add_order(fresh_order(next(templates)))["id"],
                         lambda order_id, case: wc.serve_as(order_id, case.edit), "wc")


@pytest.fixture(scope="module")
def bigcommerce(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    with BigCommerceSandbox(BC_HASH, BC_TOKEN, quota=None) as bc, SonarIDSandbox(SONARID_KEY) as sonarid:
        connector = Connector(None, sonarid, tmp_path_factory.mktemp("bigcommerce"), bc=bc)
        templates = sendable(sample_bigcommerce_orders(24, seed=43), "billing_address")

        def add(_index: int, case: Case | None) -> int:
            order = {k: v for k, v in next(templates).items() if not k.startswith("date_") and k != "id"}
            return int(bc.add_order(order | {"status_id": 11} | (case.stored if case else {}))["id"])

        yield corpus_run(connector, BIGCOMMERCE_CASES, add,
                         lambda order_id, case: bc.serve_as(order_id, case.edit, case.resource), "bc")
        assert bc.errors == []


# -- what must hold for each input -------------------------------------------------------------

def holds(outcome: Outcome, case: Case, cases: list[Case]) -> None:
    unreadable = sum(c.expect == UNREADABLE for c in cases)
    malformed = len(cases) - unreadable
    bad = outcome.bad[case.name]
    for name, sends in (("poll", 1), ("backfill", 2)):
        run = outcome.runs[name]
        assert run.code == 0, run.out + run.err  # no crash, and the run did not stop
        # every good order (this one's neighbours among them) delivered exactly once per ledger; no bad one sent
        assert {i: outcome.sent[name][i] for i in outcome.good} == dict.fromkeys(outcome.good, sends)
        assert outcome.sent[name][bad] == 0
        deliveries = outcome.deliveries[name]
        assert {i: deliveries[str(i)].state for i in outcome.good} == dict.fromkeys(outcome.good, "delivered")
        assert f"{malformed} malformed" in run.out
        assert f"{unreadable} unreadable rows (no order id: logged, not recorded)" in run.out
        if case.expect == UNREADABLE:
            assert str(bad) not in deliveries and str(bad) not in outcome.records[name]
        else:  # recorded, with a reason that names the field
            row, record = deliveries[str(bad)], outcome.records[name][str(bad)]
            assert row.state == "dead" and (row.reason or "").startswith("malformed order: "), row.reason
            assert case.expect in (row.reason or ""), row.reason
            assert record.error and case.expect in record.error
    problems = outcome.status["orders_not_read"]
    assert problems["malformed"] == malformed and problems["read_again"] == 0
    listed = {row["order_id"]: row for row in problems["latest"]}
    if case.expect != UNREADABLE:
        assert listed[str(bad)]["kind"] == "malformed" and case.expect in listed[str(bad)]["reason"]
    [sonar] = [d for d in outcome.status["destinations"] if d["destination"] == "sonarid"]
    assert sonar["counts"]["dead"] == malformed and sonar["counts"]["delivered"] == len(outcome.good)
    assert outcome.table.code == 0 and f"Orders not read: {malformed} malformed" in outcome.table.out


@pytest.mark.parametrize("case", WOOCOMMERCE_CASES, ids=named)
def test_woocommerce_one_malformed_order_among_good_ones(case: Case, woocommerce: Outcome) -> None:
    holds(woocommerce, case, WOOCOMMERCE_CASES)


@pytest.mark.parametrize("case", BIGCOMMERCE_CASES, ids=named)
def test_bigcommerce_one_malformed_order_among_good_ones(case: Case, bigcommerce: Outcome) -> None:
    holds(bigcommerce, case, BIGCOMMERCE_CASES)


# -- an order whose details keep failing: recorded, read again on its own, never holding back the page ------

def three_paid(bc: BigCommerceSandbox) -> list[int]:
    templates = sendable(sample_bigcommerce_orders(24, seed=43), "billing_address")
    return [int(bc.add_order({k: v for k, v in next(templates).items() if not k.startswith("date_") and k != "id"}
                             | {"status_id": 11})["id"]) for _ in range(3)]


def orders_not_read(connector: Connector) -> dict[str, Any]:
    shown = connector("status", "--json")
    assert shown.code == 0, shown.err
    report = json.loads(shown.out)
    assert all(c["position"] for c in report["cursors"])  # the cursor moved on
    problems: dict[str, Any] = report["orders_not_read"]
    return problems


FAILING_DETAILS = [
    pytest.param("status", 500, "products", "500", id="products-always-500"),
    pytest.param("non_json", 200, "products", "not JSON", id="products-captcha-page-with-200"),
    pytest.param("status", 503, "shipping_addresses", "503", id="shipping_addresses-always-503"),
]


@pytest.mark.parametrize(("kind", "status", "resource", "said"), FAILING_DETAILS)
def test_an_order_whose_details_keep_failing_is_read_again_on_its_own(
        bc_connector: Connector, bc: BigCommerceSandbox, kind: Any, status: int, resource: str, said: str) -> None:
    first, bad, last = three_paid(bc)
    bc.faults.add(kind, times=10_000, status=status, path=f"/stores/{BC_HASH}/v2/orders/{bad}/{resource}")
    sonarid = bc_connector.sonarid

    for _ in range(2):  # the first poll meets it in the listing, the second reads it again by id
        bc.reset_requests()
        run = bc_connector("poll")
        assert run.code == 0, run.err
        assert "1 to read again (details failed to load)" in run.out
        assert [sonarid.submissions_for(f"bc_{i}") for i in (first, bad, last)] == [1, 0, 1]
        assert str(bad) not in bc_connector.states()  # no delivery until it is read
        problems = orders_not_read(bc_connector)
        assert problems["malformed"] == 0 and problems["read_again"] == 1
        [row] = problems["latest"]
        assert row["order_id"] == str(bad) and row["kind"] == "read again"
        assert row["reason"].startswith("could not read order details: ") and said in row["reason"]
        assert row["reason"].endswith("will read again at the next poll")
        tried = [r.path for r in bc.requests if f"/orders/{bad}" in r.path]
        assert len(tried) <= 1 + 3 + 3  # the order itself, and a few quick tries of its details: once per poll
    assert f"/stores/{BC_HASH}/v2/orders/{bad}" in tried  # read again by id

    bc.faults.clear()  # the store recovers: the order is read and goes on like any other, once
    run = bc_connector("poll")
    assert run.code == 0, run.err
    assert "to read again" not in run.out
    assert [sonarid.submissions_for(f"bc_{i}") for i in (first, bad, last)] == [1, 1, 1]
    assert bc_connector.states() == dict.fromkeys(map(str, (first, bad, last)), "delivered")
    assert orders_not_read(bc_connector) == {"malformed": 0, "read_again": 0, "latest": []}
    assert bc_connector("poll").code == 0
    assert len(sonarid.submissions) == 3


def test_a_backfill_leaves_an_unreadable_order_to_the_next_poll(bc_connector: Connector, bc: BigCommerceSandbox) -> None:
    first, bad, last = three_paid(bc)
    bc.faults.add("status", times=10_000, status=500, path=f"/stores/{BC_HASH}/v2/orders/{bad}/products")
    since = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    run = bc_connector("backfill", "--since", since)
    assert run.code == 0, run.err
    assert "1 to read again" in run.out
    assert bc_connector.states() == {str(first): "delivered", str(last): "delivered"}
    assert orders_not_read(bc_connector)["read_again"] == 1

    bc.faults.clear()
    bc.reset_requests()
    run = bc_connector("poll")
    assert run.code == 0, run.err
    assert bc_connector.states() == dict.fromkeys(map(str, (first, bad, last)), "delivered")
    assert bc_connector.sonarid.submissions_for(f"bc_{bad}") == 1
    assert f"/stores/{BC_HASH}/v2/orders/{bad}" in [r.path for r in bc.requests]


def test_an_order_read_again_that_left_the_paid_statuses_is_dropped(bc_connector: Connector,
                                                                    bc: BigCommerceSandbox) -> None:
    first, bad, last = three_paid(bc)
    bc.faults.add("status", times=10_000, status=500, path=f"/stores/{BC_HASH}/v2/orders/{bad}/products")
    assert bc_connector("poll").code == 0
    assert orders_not_read(bc_connector)["read_again"] == 1
    table = bc_connector("status").out
    assert "Orders not read: 0 malformed" in table and "1 to read again" in table
    assert f"bigcommerce #{bad} read again since" in table and "could not read order details" in table
    bc.update_order(bad, status_id=5)  # cancelled meanwhile: nothing to send, nothing left to read
    run = bc_connector("poll")
    assert run.code == 0, run.err
    assert orders_not_read(bc_connector) == {"malformed": 0, "read_again": 0, "latest": []}
    assert bc_connector.sonarid.submissions_for(f"bc_{bad}") == 0
    assert bc_connector.states() == {str(first): "delivered", str(last): "delivered"}


def test_a_malformed_order_fixed_on_the_platform_is_sent_once(connector: Connector) -> None:
    assert connector.wc is not None
    templates = sendable(sample_woocommerce_orders(24, seed=41), "billing")
    first, bad, last = (connector.wc.add_order(fresh_order(next(templates)))["id"] for _ in range(3))
    connector.wc.serve_as(bad, setting("billing.first_name", "Lukas \ud83d"))
    assert connector("poll").code == 0
    assert connector.states() == {str(first): "delivered", str(bad): "dead", str(last): "delivered"}

    connector.wc.serve_as(bad, None)  # the shop fixes the name: the order's modification time moves
    connector.wc.update_order(bad, customer_note="name corrected")
    run = connector("poll")
    assert run.code == 0, run.err
    assert connector.states() == dict.fromkeys(map(str, (first, bad, last)), "delivered")
    assert [connector.sonarid.submissions_for(f"wc_{i}") for i in (first, bad, last)] == [1, 1, 1]
    assert json.loads(connector("status", "--json").out)["orders_not_read"]["malformed"] == 0
