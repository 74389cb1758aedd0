"""Loads tests/fixtures/ledger-0.1.0.sql (a ledger written by release 0.1.0) into a database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

DUMP = Path(__file__).resolve().parent / "fixtures" / "ledger-0.1.0.sql"


def statements(dialect: str) -> list[str]:
    """The dump's statements for one backend: its own sections and the shared ones, in order."""
    chosen, current, buffer = [], "all", ""
    for line in DUMP.read_text().splitlines():
        if line.startswith("-- dialect: "):
            current = line.removeprefix("-- dialect: ").strip()
            continue
        if line.startswith("--") or current not in ("all", dialect):
            continue
        buffer += line + "\n"
        if line.rstrip().endswith(";"):
            chosen.append(buffer.strip().removesuffix(";"))
            buffer = ""
    return chosen


def load(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements(engine.dialect.name):
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def rows(url: str, table: str) -> list[dict[str, object]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2, 3"))]
    finally:
        engine.dispose()
