"""Orders that cannot be read: what counts as malformed, and the ledger's orders to read again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from connector.ledger import READ_AGAIN, Ledger, Rejected, State
from connector.orders import MalformedOrder, Order, money, quantity
from connector.sandbox import BigCommerceSandbox
from connector.sources.base import TransientSourceError, platform_id, printable, text_problem
from tests.conftest import full
from tests.unit.test_ledger import order


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    yield ledger
    ledger.close()


def unread(order_id: str, why: str = "BigCommerce orders/7/products answered 500") -> Rejected:
    return Rejected(order_id=order_id, number=order_id, reason=why, raw=f'{{"id": {order_id}}}', transient=True)


@pytest.mark.parametrize("value", ["1" + "0" * 30, 10**30, 1e300, "1e999999", "-1e15", Decimal("1E+15")])
def test_amounts_of_a_quadrillion_or_more_are_malformed(value: object) -> None:
    with pytest.raises(MalformedOrder, match="total is out of range"):
        money(value, "total")


@pytest.mark.parametrize("value", [True, {"amount": "1"}, ["1"], "NaN", "-Infinity", "12,34"])
def test_what_is_not_a_finite_number_is_malformed(value: object) -> None:
    with pytest.raises(MalformedOrder, match="^total is not a"):
        money(value, "total")


def test_a_negative_total_is_malformed_where_it_is_asked_for() -> None:
    assert money("-5.00", "fee_lines.total") == Decimal("-5.00")  # a negative fee is a discount
    with pytest.raises(MalformedOrder, match="total is negative"):
        money("-5.00", "total", negative=False)
    assert money("999999999999999.9999", "total", negative=False) == Decimal("999999999999999.9999")


@pytest.mark.parametrize("value", [-1, 10**9, "2", 2.0, True, None])
def test_a_quantity_is_a_whole_json_number_under_a_billion(value: object) -> None:
    with pytest.raises(MalformedOrder, match=r"items\[0\].quantity is not a whole number"):
        quantity(value, "items[0].quantity")
    assert quantity(0, "q") == 0 and quantity(10**9 - 1, "q") == 10**9 - 1


def test_text_no_destination_can_take_is_found_with_its_field() -> None:
    assert text_problem({"billing": {"first_name": "Mia \ud83d"}}) == (
        "billing.first_name contains a lone UTF-16 surrogate (\\ud83d at position 4): not text")
    assert text_problem({"items": [{"name": "ok"}, {"name": "Mug\x00"}]}) == (
        "items[1].name contains a NUL character (\\x00 at position 3): not text")
    assert text_problem({"note": "x" * 10_001}) == "note is 10,001 characters long (more than 10,000)"
    assert text_problem({"note": "x" * 10_000, "name": "Zoë 😀", "total": Decimal("1")}) is None
    assert printable("a\ud83d\x00") == "a\\ud83d\\x00"


@pytest.mark.parametrize(("row", "expected"), [
    ({"id": 7}, "7"), ({"id": "7"}, "7"), ({"id": 0}, None), ({"id": -5}, None), ({"id": True}, None),
    ({"id": "٣"}, None), ({"id": {"$oid": "1"}}, None), ({}, None), ("order 7", None), (None, None), ([7], None),
])
def test_a_row_is_recorded_only_under_a_positive_whole_id(row: object, expected: str | None) -> None:
    assert platform_id(row) == expected


def test_an_order_not_fully_read_is_recorded_without_deliveries_and_read_again(ledger: Ledger) -> None:
    result = ledger.enqueue("bigcommerce", "s", [order("6"), unread("7"), order("8")], ["sonarid"])
    assert (result.unread, result.rejected, result.new_deliveries) == (1, 0, 2)
    assert {r.order_id for r in ledger.deliveries()} == {"6", "8"}  # nothing to claim for 7
    assert ledger.to_read_again("bigcommerce", "s") == ["7"]
    assert ledger.to_read_again("woocommerce", "s") == []
    record = ledger.order("bigcommerce", "s", "7")
    assert record is not None and record.error == (
        f"{READ_AGAIN}: BigCommerce orders/7/products answered 500; will read again at the next poll")
    assert ledger.unreadable()["read_again"] == 1 and ledger.unreadable()["malformed"] == 0

    ledger.enqueue("bigcommerce", "s", [order("7")], ["sonarid"])  # read at last: it goes on like any other
    assert {r.order_id: r.state for r in ledger.deliveries()}["7"] == State.PENDING
    assert ledger.to_read_again("bigcommerce", "s") == []
    assert ledger.unreadable() == {"malformed": 0, "read_again": 0, "latest": []}


def test_a_failed_read_of_an_order_read_before_keeps_its_snapshot_and_deliveries(ledger: Ledger) -> None:
    ledger.enqueue("bigcommerce", "s", [order("7")], ["sonarid"])
    [claim] = ledger.claim("sonarid", 10, lease=60)
    ledger.record(claim.delivery_id, State.DELIVERED)
    ledger.enqueue("bigcommerce", "s", [unread("7")], ["sonarid"])
    assert ledger.to_read_again("bigcommerce", "s") == ["7"]
    assert [r.state for r in ledger.deliveries()] == [State.DELIVERED]
    record = ledger.order("bigcommerce", "s", "7")
    assert record is not None and record.content_hash  # the last good snapshot stays
    ledger.forget("bigcommerce", "s", ["7"])  # e.g. cancelled meanwhile
    record = ledger.order("bigcommerce", "s", "7")
    assert record is not None and record.error is None and ledger.to_read_again("bigcommerce", "s") == []


def test_forgetting_drops_an_order_never_read_and_touches_no_other(ledger: Ledger) -> None:
    bad = Rejected(order_id="9", number="9", reason="total is not a number: 'x'", raw='{"id": 9}')
    ledger.enqueue("bigcommerce", "s", [unread("7"), bad], ["sonarid"])
    ledger.forget("bigcommerce", "s", ["7", "9"])
    assert ledger.order("bigcommerce", "s", "7") is None
    assert ledger.order("bigcommerce", "s", "9") is not None  # malformed, not waiting: it stays recorded
    summary = ledger.unreadable()
    assert (summary["malformed"], summary["read_again"]) == (1, 0)
    assert [(r["order_id"], r["kind"]) for r in summary["latest"]] == [("9", "malformed")]


def test_orders_to_read_again_come_longest_waiting_first_a_batch_at_a_time(ledger: Ledger) -> None:
    ledger.enqueue("bigcommerce", "s", [unread(str(i)) for i in range(1, 31)], ["sonarid"])
    assert ledger.to_read_again("bigcommerce", "s") == [str(i) for i in range(1, 26)]
    ledger.enqueue("bigcommerce", "s", [unread("1")], ["sonarid"])  # tried again, failed again: to the back
    assert ledger.to_read_again("bigcommerce", "s", limit=30)[-1] == "1"


def test_preview_refuses_text_no_destination_can_take_and_names_the_field() -> None:
    from connector.config import load
    from connector.errors import BadInput
    from connector.preview import render_payload

    raw = {"id": 5, "status": "processing", "currency": "USD", "total": "1.00",
           "date_created_gmt": "2026-01-01T00:00:00", "date_modified_gmt": "2026-01-01T00:00:00",
           "billing": {"first_name": "Mia \ud83d", "last_name": "Kelly", "email": "mia@example.com"}}
    with pytest.raises(BadInput, match=r"billing\.first_name contains a lone UTF-16 surrogate"):
        render_payload(raw, "woocommerce", "sonarid", load({}))


# -- the BigCommerce source: one order's details failing --------------------------------------------

def test_an_order_whose_details_fail_is_left_to_read_again_and_the_scan_goes_on() -> None:
    from tests.unit.test_bigcommerce_source import NOW, orders_of, paid, source

    with BigCommerceSandbox("abc123", "bc_unit_token_7f3a", quota=None, clock=lambda: NOW) as store:
        for n in (1, 2, 3):
            store.add_order(paid(n, NOW - timedelta(seconds=10 - n)))
        store.faults.add("status", times=100, status=502, path="/stores/abc123/v2/orders/2/products")
        src = source(store)
        orders = orders_of(full(src, lambda s: s.modified(NOW - timedelta(minutes=1))))
        assert [(o.order_id, o.transient) if isinstance(o, Rejected) else o.id for o in orders] == ["1", ("2", True), "3"]
        tries = [r for r in store.requests if r.path.endswith("/orders/2/products")]
        assert len(tries) == 3  # DETAIL_ATTEMPTS, not the listing's five

        again = src.again(["2", "9"])  # 9 is not in the store (any more)
        assert again.forget == ["9"] and [(o.order_id, o.transient) for o in again.orders] == [("2", True)]
        store.faults.clear()
        again = src.again(["2"])
        assert [o.id for o in again.orders if isinstance(o, Order)] == ["2"] and again.forget == []


def test_a_spent_quota_still_stops_the_scan_rather_than_marking_orders() -> None:
    from tests.unit.test_bigcommerce_source import NOW, orders_of, paid, source

    with BigCommerceSandbox("abc123", "bc_unit_token_7f3a", quota=None, clock=lambda: NOW) as store:
        store.add_order(paid(1, NOW - timedelta(seconds=5)))
        store.faults.add("429", times=100, retry_after=0, path="/stores/abc123/v2/orders/1/products")
        with pytest.raises(TransientSourceError, match="429"):
            orders_of(full(source(store), lambda s: s.modified(NOW - timedelta(minutes=1))))
        assert len([r for r in store.requests if r.path.endswith("/orders/1/products")]) == 5  # the full course
