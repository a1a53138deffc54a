"""The years leadflow keeps dates and times in: 1970-2100, at the API edge and in lead mail.

Outside them a value is a typo or a sentinel, never a cleaning job; and PostgreSQL's driver
(asyncpg) stores `date.max`/`date.min` as `infinity`/`-infinity`, which no client can read back
as a date. `api.bounds` refuses such values with a 422; the lead parsers leave them unread (the
text stays in `preferred_date_text`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
EARLIEST_DAY: date = EARLIEST.date()
LATEST_DAY: date = LATEST.date()


def within(day: date) -> bool:
    return EARLIEST_DAY <= day <= LATEST_DAY
