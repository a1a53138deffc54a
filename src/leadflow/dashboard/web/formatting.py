"""Numbers, dates and durations as the dashboard shows them: business time zone, Danish formats.

One `Formatter` per request (its language's locale, the settings' time zone); templates get it
as `fmt` (`fmt.datetime(lead.received_at)`, `fmt.number(n)`, `fmt.ago(moment)`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time, format_timedelta
from babel.numbers import format_decimal, format_percent


@dataclass(frozen=True, slots=True)
class Formatter:
    locale: Locale
    tz: ZoneInfo
    now: dt.datetime  # timezone-aware; "ago" and "today" are measured from it

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.tz)

    def datetime(self, moment: dt.datetime | None, *, empty: str = "–") -> str:
        """'1. dec. 2026 14.05' (da) — date and time in the business time zone."""
        if moment is None:
            return empty
        local = self.local(moment)
        return f"{format_date(local, 'medium', locale=self.locale)} {self.time(moment)}"

    def time(self, moment: dt.datetime | None, *, empty: str = "–") -> str:
        if moment is None:
            return empty
        return format_time(self.local(moment), "short", locale=self.locale)

    def date(self, day: dt.date | dt.datetime | None, *, empty: str = "–") -> str:
        if day is None:
            return empty
        if isinstance(day, dt.datetime):
            day = self.local(day).date()
        return format_date(day, "medium", locale=self.locale)

    def short_date(self, day: dt.date) -> str:
        """'1/12' style day labels for chart axes."""
        return format_date(day, "d/M", locale=self.locale)

    def weekday(self, moment: dt.datetime) -> str:
        """'man. 1. dec. 14.05' (da): for times within the coming days."""
        day = format_datetime(self.local(moment), "EEE d. MMM", locale=self.locale)
        return f"{day} {self.time(moment)}"

    def weekday_name(self, day: dt.date) -> str:
        """'mandag 1. dec.' (da): a day heading of the week view."""
        return format_date(day, "EEEE d. MMM", locale=self.locale)

    def iso(self, moment: dt.datetime | None) -> str:
        return "" if moment is None else moment.isoformat()

    def number(self, value: float | int | None, *, digits: int = 0, empty: str = "–") -> str:
        """'12.345' or '12.345,6' (da): grouped thousands, decimal comma."""
        if value is None:
            return empty
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def percent(self, ratio: float | None, *, empty: str = "–") -> str:
        if ratio is None:
            return empty
        return format_percent(ratio, format="#,##0.0\xa0%", locale=self.locale)

    def duration(self, delta: timedelta | float | None, *, empty: str = "–") -> str:
        """A rounded length of time in words: '3 timer', '2 dage' (da)."""
        if delta is None:
            return empty
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else delta
        return format_timedelta(
            timedelta(seconds=max(seconds, 0)), threshold=1.5, locale=self.locale
        )

    def ago(self, moment: dt.datetime | None, *, empty: str = "–") -> str:
        """How long before now, in words: 'for 3 timer siden' (da)."""
        if moment is None:
            return empty
        return format_timedelta(
            moment - self.now, add_direction=True, threshold=1.5, locale=self.locale
        )

    def size(self, size: int | None, *, empty: str = "–") -> str:
        """Bytes in the largest unit that keeps a number ≥ 1: '83,3 GB', '512 kB' (da)."""
        if size is None:
            return empty
        for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
            if size >= factor:
                return self.number(size / factor, digits=1) + "\xa0" + unit
        return self.number(size) + "\xa0B"
