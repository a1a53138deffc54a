"""Pure parts of the uptime code: reading alerts and computing uptime, on generated input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.monitoring.uptime.alerts import AlertInvalid, parse_alert
from leadflow.monitoring.uptime.ratios import uptime_percent

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=7)

# Generation shares 2 cores with other work: judge the code, not the machine's speed.
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

junk = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@PROPERTY
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "monitorID",
                "alertType",
                "alertDateTime",
                "alertDuration",
                "alertDetails",
                "monitorURL",
            ]
        ),
        junk,
    )
)
def test_any_input_gives_an_alert_or_alertinvalid(fields: dict[str, object]) -> None:
    errors: list[dict[str, str]] = []
    try:
        alert = parse_alert(fields)
    except AlertInvalid as exc:
        errors = exc.errors
        alert = None
    if alert is None:
        assert errors
        assert all({"field", "message"} <= set(e) for e in errors)
    else:
        assert alert.alert_type in {1, 2, 3}
        assert alert.monitor_id.isdigit()


def test_placeholders_uptimerobot_did_not_fill_count_as_absent() -> None:
    alert = parse_alert(
        {
            "monitorID": "5",
            "alertType": "2",
            "alertDateTime": "1764417600",
            "alertDuration": "*alertDuration*",
            "alertDetails": "*alertDetails*",
        }
    )
    assert alert.duration_seconds is None
    assert alert.details is None


spans = st.lists(
    st.tuples(st.integers(0, 10 * 86400), st.one_of(st.none(), st.integers(0, 86400))),
    max_size=8,
)


def _incidents(raw: list[tuple[int, int | None]]) -> list[tuple[datetime, datetime | None]]:
    out = []
    for ago, length in raw:
        start = NOW - timedelta(seconds=ago)
        out.append((start, None if length is None else start + timedelta(seconds=length)))
    return out


@PROPERTY
@given(spans, st.integers(0, 20 * 86400))
def test_uptime_stays_between_0_and_100(raw: list[tuple[int, int | None]], seen: int) -> None:
    result = uptime_percent(
        _incidents(raw), observed_from=NOW - timedelta(seconds=seen), now=NOW, window=WINDOW
    )
    if seen == 0:
        assert result is None
    else:
        assert result is not None
        assert 0.0 <= result <= 100.0


@PROPERTY
@given(spans)
def test_overlapping_incidents_count_once(raw: list[tuple[int, int | None]]) -> None:
    incidents = _incidents(raw)
    once = uptime_percent(incidents, observed_from=NOW - WINDOW, now=NOW, window=WINDOW)
    twice = uptime_percent(incidents * 2, observed_from=NOW - WINDOW, now=NOW, window=WINDOW)
    assert once == twice


def test_an_hour_down_in_a_day() -> None:
    incident = (NOW - timedelta(hours=3), NOW - timedelta(hours=2))
    result = uptime_percent(
        [incident], observed_from=NOW - timedelta(days=3), now=NOW, window=timedelta(days=1)
    )
    assert result == pytest.approx(100 * 23 / 24, abs=1e-4)
