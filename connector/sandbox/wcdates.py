"""WooCommerce date strings: ISO 8601 without an offset, `*_gmt` in UTC, the others in site-local time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

WC_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


def site_timezone(utc_offset_hours: float) -> timezone:
    return timezone(timedelta(hours=utc_offset_hours))


def utc_now() -> datetime:
    """The real current time as an aware UTC datetime."""
    return datetime.now(UTC)


def to_second(moment: datetime) -> datetime:
    """``moment`` in UTC, truncated to the second (WordPress stores dates at second precision)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


def format_wc(moment: datetime, tz: tzinfo) -> str:
    return to_second(moment).astimezone(tz).strftime(WC_DATE_FORMAT)


def date_pair(moment: datetime, site_tz: tzinfo) -> tuple[str, str]:
    """``(site_local, gmt)`` strings for the aware datetime ``moment``."""
    return format_wc(moment, site_tz), format_wc(moment, UTC)


def parse_wc(value: str) -> datetime:
    """A naive datetime from a WooCommerce date string (no offset)."""
    return datetime.strptime(value[:19], WC_DATE_FORMAT)


def from_gmt(value: str) -> datetime:
    return parse_wc(value).replace(tzinfo=UTC)


def from_local(value: str, site_tz: tzinfo) -> datetime:
    return parse_wc(value).replace(tzinfo=site_tz).astimezone(UTC)
