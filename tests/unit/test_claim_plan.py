"""The claim reads an index in order on both backends: no scan of the backlog, no sort, no snapshot join before
the limit (the query plan, not a timing: speed is measured in bench/throughput.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connector.ledger import Ledger, _due_statements, _due_union
from connector.orders import Address, Order

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def orders(count: int) -> list[Order]:
    return [Order(source="woocommerce", store="shop", id=str(i), number=str(i), status="processing", created_at=T0,
                  modified_at=T0, currency="USD", total=Decimal("1.00"), subtotal=Decimal("1.00"),
                  billing=Address(first_name="A", last_name="B", email=f"c{i}@example.com", country="US"))
            for i in range(1, count + 1)]


def plan(ledger: Ledger, statement: Any) -> str:
    dialect = ledger.engine.dialect
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = {k: v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) else v
              for k, v in compiled.params.items()}
    with ledger.engine.connect() as connection:
        if dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}",
                                              tuple(params[name] for name in compiled.positiontup or ())).all()
            return "\n".join(str(row[-1]) for row in rows)
        connection.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: ask whether the index *can* serve it
        rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", params).all()
        return "\n".join(str(row[0]) for row in rows)


def test_every_claim_walk_reads_the_claim_index_in_order_without_a_sort(database_url: str) -> None:
    ledger = Ledger(database_url)
    try:
        ledger.enqueue("woocommerce", "shop", orders(50), ["sonarid", "sophio"])
        claimed = ledger.claim("sonarid", 5, lease=60)
        for claim in claimed[:3]:
            ledger.record(claim.delivery_id, "retrying", next_attempt_at=T0 + timedelta(minutes=1))  # type: ignore[arg-type]
        statements = _due_statements("sonarid", 10, T0 + timedelta(hours=1))
        assert len(statements) == 4  # pending / retrying, never tried / due by now
        for statement in statements:
            text = plan(ledger, statement)
            assert "ix_delivery_claim" in text, text
            assert "orders" not in text.lower().replace("order by", ""), text  # no snapshot join before the limit
            if ledger.engine.dialect.name == "sqlite":
                assert "TEMP B-TREE" not in text and "SCAN" not in text, text
            else:
                assert "Sort" not in text and "Seq Scan" not in text, text
        if ledger.engine.dialect.name == "sqlite":  # what SQLite runs: the four in one statement
            text = plan(ledger, _due_union(statements))
            assert text.count("ix_delivery_claim") == 4 and "TEMP B-TREE" not in text, text
            assert "SCAN deliveries" not in text and "orders" not in text.lower().replace("order by", ""), text
    finally:
        ledger.close()


def test_claims_come_oldest_first_never_tried_before_due_retries(database_url: str) -> None:
    ledger = Ledger(database_url)
    try:
        ledger.enqueue("woocommerce", "shop", orders(4), ["sonarid"])
        first = ledger.claim("sonarid", 2, lease=60, now=T0)
        assert [c.order.id for c in first] == ["1", "2"]
        ledger.record(first[0].delivery_id, "retrying", next_attempt_at=T0 + timedelta(minutes=2))  # type: ignore[arg-type]
        ledger.record(first[1].delivery_id, "retrying", next_attempt_at=T0 + timedelta(minutes=1))  # type: ignore[arg-type]
        later = ledger.claim("sonarid", 10, lease=60, now=T0 + timedelta(minutes=5))
        assert [c.order.id for c in later] == ["3", "4", "2", "1"]
        assert [c.attempts for c in later] == [1, 1, 2, 2]
    finally:
        ledger.close()
