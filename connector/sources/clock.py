"""The store's clock as its answers show it: polling windows are measured on it, never on this host's,
so a store whose clock is minutes off, either way, loses nothing (DESIGN, "Polling").

A scan's window ends at the earlier of two times the store gave: the `Date` header of its first
answer (its time when the scan began) and the newest modification time the scan returned — or,
when it returned none, where the last window ended. Each alone can be wrong: an order imported
with a future `date_modified` would push the window past real orders, a clock set back leaves
the last window's end in the store's future, and a CDN in front of the store writes its own
`Date` (right while the store's clock is behind; the stamps then tell the store's time once a
window holds an order). The earliest of them is not past the store's time; the look-back covers
an order stamped before it but committed later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

SKEW_REPORTED = timedelta(minutes=1)  # `check` mentions a skew larger than this


@dataclass
class StoreClock:
    """What one scan (or probe) saw of the store's time."""

    date: datetime | None = None  # the first answer's `Date` header
    host: datetime | None = None  # this host's time when that answer arrived
    newest: datetime | None = None  # the newest modification time returned

    def answer(self, headers: Mapping[str, str]) -> None:
        """Every answer's headers; the first readable `Date` counts."""
        if self.date is not None:
            return
        value = headers.get("Date")
        try:
            parsed = parsedate_to_datetime(value) if value else None
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None:
            self.date = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
            self.host = datetime.now(UTC)

    def modified(self, moment: datetime | None) -> None:
        if moment is not None and (self.newest is None or moment > self.newest):
            self.newest = moment

    def end(self, previous: datetime | None) -> datetime | None:
        """Where a completed scan's window ends, on the store's clock, given where the last one ended
        (None: the store showed no time and there is no last window)."""
        latest = self.newest if self.newest is not None else previous
        known = [moment for moment in (self.date, latest) if moment is not None]
        return min(known) if known else None

    @property
    def skew(self) -> timedelta | None:
        """How far the store's clock is ahead of this host's (negative: behind); None without a `Date`."""
        return None if self.date is None or self.host is None else self.date - self.host

    def describe_skew(self) -> str | None:
        """One line when the skew is over `SKEW_REPORTED`, else None."""
        skew = self.skew
        if skew is None or abs(skew) <= SKEW_REPORTED:
            return None
        seconds = round(abs(skew.total_seconds()))
        minutes, rest = divmod(seconds, 60)
        return (f"the store's clock is {minutes} min {rest} s {'ahead of' if skew > timedelta() else 'behind'} this "
                "host's (its Date header); polling windows follow the store's clock, so no order is lost, "
                "but one of the two clocks is wrong (NTP?)")
