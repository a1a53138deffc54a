"""The SVG charts' geometry (pure), and the overview's charts drawn from the stats."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leadflow.dashboard.web import charts

counts = st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=40)


@given(counts)
def test_columns_stand_on_one_axis_and_scale_to_the_largest(values: list[int]) -> None:
    chart = charts.columns([(str(i), v, str(v), f"d{i}") for i, v in enumerate(values)])
    axis = chart.label_x
    for bar, value in zip(chart.bars, values, strict=True):
        assert bar.value == value
        assert abs(bar.y + bar.height - axis) < 0.02  # every column ends on the axis
        assert bar.x >= 0
        assert bar.x + bar.width <= chart.width + 0.01
        assert bar.height >= 0
    tallest = max(values)
    if tallest:
        top = chart.bars[values.index(tallest)]
        assert top.height == chart.label_x - 14  # the largest value reaches the top
        assert all(bar.height <= top.height for bar in chart.bars)
    assert chart.ticks[-1].label == f"d{len(values) - 1}"  # the newest day is labelled


@given(counts)
def test_bars_are_proportional_to_their_values(values: list[int]) -> None:
    chart = charts.horizontal_bars([(str(i), v, str(v)) for i, v in enumerate(values)])
    tallest = max(values)
    longest = max(bar.width for bar in chart.bars)
    for bar in chart.bars:
        if tallest:
            assert abs(bar.width / longest - bar.value / tallest) < 0.01
        else:
            assert bar.width == 0
    assert chart.height == len(values) * 26


def test_thirty_days_are_labelled_weekly_back_from_today() -> None:
    chart = charts.columns([(str(i), i, str(i), f"day {i}") for i in range(30)])
    assert [tick.label for tick in chart.ticks] == ["day 1", "day 8", "day 15", "day 22", "day 29"]
