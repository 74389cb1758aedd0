"""The look-ups' limiter, shared by every thread and every process (and instance) that uses one ledger.

pyrate-limiter does the rate limiting: its GCRA (a leaky bucket kept as one theoretical arrival time) decides,
and `LedgerStore`, a pyrate-limiter `StateStore`, keeps that one number in the ledger (`rate_limits`), read,
stepped and written in one write transaction (BEGIN IMMEDIATE on SQLite, a row lock on PostgreSQL), so a
`poll` or `backfill` run beside the service, or a second instance on a PostgreSQL ledger, spends the same
bucket. Its clock is the wall clock (a monotonic clock means nothing across processes); hosts sharing a
PostgreSQL ledger keep their clocks in step (NTP) as they do for the leases.
"""

from __future__ import annotations

import json
from typing import Any

from pyrate_limiter import GCRA, Limiter, Rate, StateBucket, StateStore, WallClock
from pyrate_limiter.abstracts.algorithm import Decision, State, StateAlgorithm
from sqlmodel import select

from connector.ledger import Ledger, RateLimit, _insert, utcnow


class LedgerStore(StateStore):
    """One limiter's state in the ledger; `check` is atomic across processes."""

    is_async = False
    default_clock = WallClock()

    def __init__(self, ledger: Ledger, name: str) -> None:
        self.ledger, self.name = ledger, name

    def check(self, algorithm: StateAlgorithm, rates: list[Rate], now: int, weight: int) -> Decision:
        with self.ledger.write() as s:
            s.connection().execute(_insert(s.get_bind().dialect.name, RateLimit).values(
                name=self.name, state="", updated_at=utcnow()).on_conflict_do_nothing(index_elements=["name"]))
            row = s.exec(select(RateLimit).where(RateLimit.name == self.name).with_for_update()).one()
            state, decision = algorithm.step(rates, self._state(algorithm, rates, row.state), now, weight)
            if decision.allowed:
                row.state, row.updated_at = json.dumps([int(v) for v in state]), utcnow()
                s.add(row)
            return decision

    def read(self, algorithm: StateAlgorithm, rates: list[Rate]) -> State:
        with self.ledger.read() as s:
            row = s.get(RateLimit, self.name)
        return self._state(algorithm, rates, row.state if row else "")

    def reset(self) -> None:
        with self.ledger.write() as s:
            row = s.get(RateLimit, self.name)
            if row is not None:
                s.delete(row)

    @staticmethod
    def _state(algorithm: StateAlgorithm, rates: list[Rate], stored: str) -> State:
        values: Any = json.loads(stored) if stored else None
        if not isinstance(values, list) or len(values) != len(rates):
            return algorithm.initial(rates)
        return tuple(float(v) for v in values)


def shared(ledger: Ledger, name: str, per_second: float, burst: int) -> Limiter:
    """`per_second` with a burst of `burst`, one bucket for everything on `ledger` called `name`."""
    per_ms = 1_000_000  # a rate of limit / 1000 s keeps fractional rates (0.8/s = 800 per 1000 s) exact
    rate = Rate(max(1, round(per_second * 1000)), per_ms, burst=burst)
    return Limiter(StateBucket([rate], algorithm=GCRA(), store=LedgerStore(ledger, name), clock=WallClock()))
