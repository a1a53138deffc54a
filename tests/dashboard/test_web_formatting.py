"""Dates in Europe/Copenhagen and Danish number formats, in both UI languages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from hypothesis import given
from hypothesis import strategies as st

from leadflow.dashboard.web import i18n
from leadflow.dashboard.web.formatting import Formatter
from leadflow.settings import UiLanguage

CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2031, 6, 15, 10, 0, tzinfo=UTC)


def _fmt(language: UiLanguage = UiLanguage.DA) -> Formatter:
    return Formatter(locale=i18n.format_locale(language), tz=CPH, now=NOW)


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (datetime(2031, 6, 15, 10, 0, tzinfo=UTC), "15. jun. 2031 12.00"),  # summer: UTC+2
        (datetime(2031, 1, 15, 10, 0, tzinfo=UTC), "15. jan. 2031 11.00"),  # winter: UTC+1
        (datetime(2031, 3, 29, 23, 30, tzinfo=UTC), "30. mar. 2031 00.30"),  # next local day
    ],
)
def test_times_are_shown_in_copenhagen(moment: datetime, shown: str) -> None:
    assert _fmt().datetime(moment) == shown


def test_the_date_of_a_late_utc_evening_is_the_next_copenhagen_day() -> None:
    assert _fmt().date(datetime(2031, 6, 14, 22, 30, tzinfo=UTC)) == "15. jun. 2031"
    assert _fmt().date(date(2031, 6, 14)) == "14. jun. 2031"


@pytest.mark.parametrize("language", list(UiLanguage))
def test_numbers_use_the_danish_separators_in_both_languages(language: UiLanguage) -> None:
    fmt = _fmt(language)
    assert fmt.number(1234567) == "1.234.567"
    assert fmt.number(12345.67, digits=1) == "12.345,7"
    assert fmt.percent(0.1234) == "12,3\xa0%"
    assert fmt.number(None) == "–"


def test_durations_and_ages_read_as_words() -> None:
    fmt = _fmt()
    assert fmt.duration(timedelta(hours=3, minutes=10)) == "3 timer"
    assert fmt.duration(90) == "2 minutter"
    assert fmt.ago(NOW - timedelta(hours=3)) == "for 3 timer siden"
    assert _fmt(UiLanguage.EN).ago(NOW - timedelta(days=2)) == "2 days ago"


@given(
    st.datetimes(
        timezones=st.just(UTC), min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)
    )
)
def test_every_moment_is_shown_as_its_copenhagen_wall_time(moment: datetime) -> None:
    local = moment.astimezone(CPH)
    assert _fmt().time(moment) == f"{local:%H}.{local:%M}"


def test_the_format_locale_is_danish_for_both_languages() -> None:
    assert i18n.format_locale(UiLanguage.DA) == Locale.parse("da_DK")
    assert i18n.format_locale(UiLanguage.EN).territory == "DK"


def test_sizes_take_the_largest_unit_that_fits() -> None:
    fmt = _fmt()
    assert fmt.size(83_349_807_104) == "77,6\xa0GB"
    assert fmt.size(5_500_000) == "5,2\xa0MB"
    assert fmt.size(2048) == "2,0\xa0kB"
    assert fmt.size(12) == "12\xa0B"
    assert fmt.size(None) == "–"
