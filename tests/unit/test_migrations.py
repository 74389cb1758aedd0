"""The schema is Alembic's: new ledgers and release 0.1.0 ledgers end at the newest revision, nothing lost."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

from connector import migrations
from connector.ledger import Ledger, State
from tests import release_ledger


def test_there_is_one_line_of_revisions_from_the_baseline() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrations.config())
    assert [r.revision for r in script.walk_revisions("base", "heads")][::-1] == ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008"]
    assert migrations.head() == "0008"


def test_a_new_ledger_is_built_by_the_migrations_and_matches_the_tables(database_url: str) -> None:
    ledger = Ledger(database_url)
    try:
        assert ledger.revision == migrations.head() == migrations.revision(ledger.engine)
        with ledger.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
    finally:
        ledger.close()


def test_a_release_0_1_0_ledger_upgrades_in_place_with_every_row_kept(database_url: str) -> None:
    release_ledger.load(database_url)
    before = {table: release_ledger.rows(database_url, table) for table in ("orders", "deliveries", "cursors")}
    assert {row["state"] for row in before["deliveries"]} == {s.value for s in State}  # every state, and malformed
    assert any(row["error"] for row in before["orders"])
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert migrations.current(connection) is None and "first_failed_at" not in {
            c["name"] for c in inspect(connection).get_columns("deliveries")}
    engine.dispose()

    ledger = Ledger(database_url)  # stamped at the baseline, then upgraded
    try:
        assert ledger.revision == migrations.revision(ledger.engine) == migrations.head()
        for table, rows in before.items():
            after = release_ledger.rows(database_url, table)
            if table == "deliveries":
                assert [row.pop("first_failed_at") for row in after] == [None] * len(after)
            assert after == rows, table
        assert release_ledger.rows(database_url, "attempts") == []
        # the upgraded ledger works: money, aware times, the UNIQUE key, new rows get fresh ids
        order = ledger.order("woocommerce", "shop", "101")
        assert order is not None and order.modified_at == datetime(2026, 11, 1, 12, 1, 41, tzinfo=UTC)
        assert '"total":"101.10"' in order.data
        assert ledger.recover() == 1  # 106 was left `sending` by the release's (gone) process
        claims = ledger.claim("sonarid", 10, lease=60)
        assert sorted(c.order.id for c in claims) == ["101", "103", "106"]
        assert str(next(c for c in claims if c.order.id == "101").order.total) == "101.10"
        from tests.unit.test_ledger import order as new_order
        assert ledger.enqueue("woocommerce", "shop", [new_order("101"), new_order("900")], ["sonarid"]).new_deliveries == 1
    finally:
        ledger.close()
    again = Ledger(database_url)  # the next start: nothing to do
    assert again.revision == migrations.head()
    again.close()


STARTER = """
import sys
from connector.ledger import Ledger
ledger = Ledger(sys.argv[1])
print(ledger.revision)
ledger.close()
"""


def test_instances_starting_at_once_migrate_once(database_url: str) -> None:
    release_ledger.load(database_url)
    starters = [subprocess.Popen([sys.executable, "-c", STARTER, database_url], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in starters]
    assert [(code, out.strip()) for code, out, _ in results] == [(0, migrations.head())] * 4, [err for *_, err in results]
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [migrations.head()]
        assert len(release_ledger.rows(database_url, "deliveries")) == 7
    engine.dispose()


def test_postgresql_tests_fail_in_ci_when_the_server_is_unreachable() -> None:
    import os

    test = "tests/unit/test_migrations.py::test_a_new_ledger_is_built_by_the_migrations_and_matches_the_tables"
    env = {**os.environ, "TEST_POSTGRES_URL": "postgresql+psycopg://postgres@127.0.0.1:1/test"}
    runs = {ci: subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{test}[postgresql]"],
                               env={**env, "CI": ci}, capture_output=True, text=True, timeout=120)
            for ci in ("true", "")}
    assert runs["true"].returncode == 1 and "1 error" in runs["true"].stdout, runs["true"].stdout[-500:]
    assert runs[""].returncode == 0 and "1 skipped" in runs[""].stdout, runs[""].stdout[-500:]
