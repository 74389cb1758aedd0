"""BigCommerce date strings: RFC 2822 in UTC in answers; RFC 2822 or ISO 8601 in filters."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime


def to_second(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


def format_bc(moment: datetime) -> str:
    """"Tue, 05 Mar 2019 21:40:11 +0000", as every date in a V2 answer."""
    return format_datetime(to_second(moment))


def parse_bc(value: str) -> datetime:
    """A stored RFC 2822 date as aware UTC."""
    parsed = parsedate_to_datetime(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_filter(value: str) -> datetime | None:
    """A `min_date_*`/`max_date_*` value: RFC 2822 ("Thu, 20 Apr 2017 11:32:00 -0400") or ISO 8601
    ("2017-04-20T11:32:00.000-04:00", "2017-04-20"); no offset means UTC. None when neither."""
    text = value.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
