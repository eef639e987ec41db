"""Timestamps as the API writes them, and calendar-month arithmetic for terms and windows."""

from __future__ import annotations

import calendar
from datetime import datetime, timezone


def format_timestamp(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with milliseconds, as the guide writes them (2022-02-21T12:51:14.158Z)."""
    if moment is None:
        return None
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months: 31 January plus one month is the last day of February."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
