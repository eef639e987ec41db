"""Timestamps as the API writes them, and calendar-month arithmetic for terms and windows."""

from __future__ import annotations

import calendar
import math
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import overload


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp (already checked as one) as an aware datetime."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # RFC 3339 allows a lower-case "t" and "z"; fromisoformat does not
        return datetime.fromisoformat(text.upper())


@overload
def format_timestamp(moment: datetime) -> str: ...
@overload
def format_timestamp(moment: None) -> None: ...
@overload
def format_timestamp(moment: datetime | None) -> str | None: ...


def format_timestamp(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with milliseconds, as the guide writes them (2022-02-21T12:51:14.158Z)."""
    if moment is None:
        return None
    return _format(moment)


# An order's protections share a few instants: a 1,000-line order's answer formats two
# of them a thousand times. Equal datetimes are the same instant, so the same text.
@lru_cache(maxsize=4096)
def _format(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    # Not strftime: "%Y" drops the leading zeros of years before 1000.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


# The last whole second formatted, and its text: one object, since threads read it.
_second: tuple[float, str] = (math.nan, "")


def format_epoch(seconds: float) -> str:
    """`format_timestamp` of an epoch time, as `datetime.fromtimestamp` rounds it, for
    the journal's thousands of entries: their seconds repeat, so the date and time of
    day are written once per second."""
    fraction, whole = math.modf(seconds)
    micro = round(fraction * 1e6)  # half to even, as datetime rounds
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    elif micro < 0:
        whole, micro = whole - 1, micro + 1_000_000
    global _second
    cached = _second
    if cached[0] != whole:
        cached = _second = (whole, format_timestamp(datetime.fromtimestamp(whole, UTC))[:-5])
    return f"{cached[1]}.{micro // 1000:03d}Z"


def add_days(moment: datetime, days: int) -> datetime:
    """`moment` plus `days`, stopping at the calendar's end instead of overflowing."""
    try:
        return moment + timedelta(days=days)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months: 31 January plus one month is the last day of February."""
    # Every protection of an order line starts alike: kept by instant and time zone
    # (one instant is another calendar day in another zone).
    return _add_months(moment, moment.tzinfo, months)


@lru_cache(maxsize=4096)
def _add_months(moment: datetime, zone: object, months: int) -> datetime:
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    if year > 9999:
        return datetime.max.replace(tzinfo=UTC)  # the calendar's end
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
