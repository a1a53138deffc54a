"""The bookings week: weeks start on Monday in the business time zone; local times ↔ UTC.

Pure functions, so the week view's edges (DST weeks of 167 and 169 hours, bookings across
midnight) are tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from leadflow.dashboard.service import local_midnight


class Timed(Protocol):
    @property
    def start_time(self) -> datetime: ...

    @property
    def end_time(self) -> datetime: ...


T = TypeVar("T", bound=Timed)
# The days the bookings pages accept: beyond them a week's bounds cannot all be formed.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def parse_week(raw: str | None, today: date) -> tuple[date, bool]:
    """The Monday of the week `raw` names (a day `2026-12-03` or a week `2026-W49`), and
    whether `raw` was readable; the current week when it is empty, not readable or outside
    the years 1900–2999."""
    value = (raw or "").strip()
    if not value:
        return monday_of(today), True
    try:
        if "W" in value.upper():
            year, _, week = value.upper().partition("-W")
            monday = date.fromisocalendar(int(year), int(week), 1)
        else:
            monday = monday_of(date.fromisoformat(value))
    except ValueError:
        return monday_of(today), False
    if not FIRST_DAY <= monday <= LAST_DAY:
        return monday_of(today), False
    return monday, True


def utc_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first moment of a local day, in UTC: in UTC, differences and comparisons are real
    time (between two datetimes of one zone, Python compares wall clocks, DST ignored)."""
    return local_midnight(day, tz).astimezone(UTC)


def week_bounds(monday: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) local, in UTC: 167 or 169 hours in DST weeks."""
    return utc_midnight(monday, tz), utc_midnight(monday + timedelta(days=7), tz)


def local_moment(day: date, clock: time, tz: ZoneInfo) -> datetime | None:
    """A local date and wall-clock time in UTC; None when the clocks skip that time (DST).

    A time that happens twice (the autumn change) means its first occurrence (summer time).
    """
    moment = datetime.combine(day, clock.replace(tzinfo=None, fold=0), tzinfo=tz)
    round_trip = moment.astimezone(UTC).astimezone(tz)
    if (round_trip.date(), round_trip.time()) != (day, clock.replace(tzinfo=None, fold=0)):
        return None
    return moment.astimezone(UTC)


@dataclass
class Day(Generic[T]):
    day: date
    items: list[T] = field(default_factory=list)


def week_days(monday: date, items: list[T], tz: ZoneInfo) -> list[Day[T]]:
    """The week's seven days with the items overlapping each local day, by start time.

    An item across midnight appears on every day it touches.
    """
    days: list[Day[T]] = [Day(monday + timedelta(days=i)) for i in range(7)]
    for current in days:
        start = utc_midnight(current.day, tz)
        end = utc_midnight(current.day + timedelta(days=1), tz)
        current.items = sorted(
            (item for item in items if item.start_time < end and item.end_time > start),
            key=lambda item: item.start_time,
        )
    return days
