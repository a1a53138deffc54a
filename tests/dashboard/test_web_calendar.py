"""The bookings week in Copenhagen: Monday first, DST weeks, local times to UTC and back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from leadflow.dashboard.web import booking_form, calendar

CPH = ZoneInfo("Europe/Copenhagen")


@dataclass(frozen=True)
class Item:
    start_time: datetime
    end_time: datetime


def test_a_week_starts_on_monday_whatever_day_names_it() -> None:
    today = date(2031, 6, 12)  # a Thursday
    assert calendar.parse_week(None, today) == (date(2031, 6, 9), True)
    assert calendar.parse_week("2031-06-15", today) == (date(2031, 6, 9), True)  # Sunday
    assert calendar.parse_week("2031-W24", today) == (date(2031, 6, 9), True)
    assert calendar.parse_week("2031-w01", today) == (date(2030, 12, 30), True)
    assert calendar.parse_week("next tuesday", today) == (date(2031, 6, 9), False)
    assert calendar.parse_week("2031-W60", today) == (date(2031, 6, 9), False)
    assert calendar.parse_week("9999-12-31", today) == (date(2031, 6, 9), False)
    assert calendar.parse_week("0001-01-01", today) == (date(2031, 6, 9), False)


def test_the_weeks_of_the_clock_changes_are_an_hour_short_or_long() -> None:
    # 2031: summer time starts on Sunday 30 March and ends on Sunday 26 October.
    start, end = calendar.week_bounds(date(2031, 3, 24), CPH)
    assert start == datetime(2031, 3, 23, 23, 0, tzinfo=UTC)
    assert end == datetime(2031, 3, 30, 22, 0, tzinfo=UTC)
    assert end - start == timedelta(hours=167)
    start, end = calendar.week_bounds(date(2031, 10, 20), CPH)
    assert end - start == timedelta(hours=169)
    start, end = calendar.week_bounds(date(2031, 6, 9), CPH)
    assert end - start == timedelta(hours=168)


def test_a_skipped_time_is_refused_and_a_repeated_one_means_summer_time() -> None:
    assert calendar.local_moment(date(2031, 3, 30), time(2, 30), CPH) is None
    assert calendar.local_moment(date(2031, 3, 30), time(3, 0), CPH) == datetime(
        2031, 3, 30, 1, 0, tzinfo=UTC
    )
    assert calendar.local_moment(date(2031, 10, 26), time(2, 30), CPH) == datetime(
        2031, 10, 26, 0, 30, tzinfo=UTC
    )
    assert calendar.local_moment(date(2031, 1, 5), time(9, 0), CPH) == datetime(
        2031, 1, 5, 8, 0, tzinfo=UTC
    )


def test_a_booking_across_midnight_is_on_both_days() -> None:
    night = Item(
        datetime(2031, 6, 10, 20, 0, tzinfo=UTC), datetime(2031, 6, 10, 23, 0, tzinfo=UTC)
    )  # 22:00–01:00 local, Tuesday to Wednesday
    morning = Item(datetime(2031, 6, 10, 6, 0, tzinfo=UTC), datetime(2031, 6, 10, 8, 0, tzinfo=UTC))
    days = calendar.week_days(date(2031, 6, 9), [night, morning], CPH)
    assert [d.day.weekday() for d in days] == list(range(7))
    assert days[1].items == [morning, night]
    assert days[2].items == [night]
    assert all(not d.items for d in (days[0], *days[3:]))


@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
    minutes=st.integers(min_value=0, max_value=24 * 60 - 1),
)
def test_a_local_time_that_exists_comes_back_as_typed(day: date, minutes: int) -> None:
    clock = time(minutes // 60, minutes % 60)
    moment = calendar.local_moment(day, clock, CPH)
    if moment is None:  # only in the hour the clocks skip
        assert (day.month, day.weekday(), clock.hour) == (3, 6, 2)
        return
    local = moment.astimezone(CPH)
    assert (local.date(), local.time()) == (day, clock)
    values = booking_form.values_of(start=moment, end=moment + timedelta(hours=1), tz=CPH)
    assert values["start_date"] == day.isoformat()
    assert values["start_clock"] == clock.strftime("%H:%M")


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
def test_every_day_belongs_to_the_week_of_its_monday(day: date) -> None:
    monday, ok = calendar.parse_week(day.isoformat(), date(2031, 1, 1))
    assert ok
    assert monday.weekday() == 0
    assert 0 <= (day - monday).days < 7
    start, end = calendar.week_bounds(monday, CPH)
    assert start <= calendar.utc_midnight(day, CPH) < end


def test_the_form_reads_local_times_and_names_the_bad_field() -> None:
    values = {"start_date": "2031-06-10", "start_clock": "09:00", "end_clock": "12:30"}
    times, errors = booking_form.read_times(values, CPH)
    assert errors == {}
    assert times == booking_form.Times(
        datetime(2031, 6, 10, 7, 0, tzinfo=UTC), datetime(2031, 6, 10, 10, 30, tzinfo=UTC)
    )
    _none, errors = booking_form.read_times(values | {"end_clock": "08:00"}, CPH)
    assert errors == {"end_clock": booking_form.END_BEFORE_START}
    overnight = values | {"end_date": "2031-06-11", "end_clock": "01:00"}
    times, errors = booking_form.read_times(overnight, CPH)
    assert errors == {}
    assert times is not None
    assert times.end == datetime(2031, 6, 10, 23, 0, tzinfo=UTC)
    _none, errors = booking_form.read_times(
        {"start_date": "10/6", "start_clock": "9", "end_clock": "25:00"}, CPH
    )
    assert set(errors) == {"start_date", "start_clock", "end_clock"}
    _none, errors = booking_form.read_times(
        {"start_date": "2031-03-30", "start_clock": "02:15", "end_clock": "04:00"}, CPH
    )
    assert errors == {"start_clock": booking_form.SKIPPED}
