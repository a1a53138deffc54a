"""Server-rendered SVG charts: the geometry here (pure), the markup in `templates/charts.html`.

Coordinates are in a fixed viewBox; the SVG scales to its box with CSS (`.chart`), so a chart
fits a phone as well as a desk screen without any script.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    shown: str  # the value as the page shows it (Danish number format)


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    horizontal: bool
    label_x: float = 0  # horizontal: where labels end; columns: the axis line
    ticks: tuple[Tick, ...] = ()  # columns: labels under the axis, every few columns
    maximum: int = 0


def _scale(values: Sequence[int]) -> int:
    return max([*values, 1])


def horizontal_bars(
    items: Sequence[tuple[str, int, str]],
    *,
    width: int = 320,
    row: int = 26,
    label_width: int = 110,
) -> BarChart:
    """One row per (label, value, shown value), bars proportional to the largest value."""
    maximum = _scale([value for _, value, _ in items])
    room = width - label_width - 44  # space for the bar and its value
    bars = [
        Bar(
            label=label,
            value=value,
            x=label_width,
            y=index * row + 4,
            width=round(room * value / maximum, 2),
            height=row - 8,
            shown=shown,
        )
        for index, (label, value, shown) in enumerate(items)
    ]
    return BarChart(
        width=width,
        height=max(len(items), 1) * row,
        bars=bars,
        horizontal=True,
        label_x=label_width - 6,
        maximum=maximum,
    )


def columns(
    items: Sequence[tuple[str, int, str, str]],
    *,
    width: int = 360,
    height: int = 120,
    every: int = 7,
) -> BarChart:
    """One column per (label, value, shown value, axis label), left to right; every `every`-th
    gets its axis label (counting back from the last, so the newest day always has one)."""
    maximum = _scale([item[1] for item in items])
    top, bottom = 14, 18  # room for the tallest value and the labels under the axis
    plot = height - top - bottom
    slot = width / max(len(items), 1)
    bars = []
    for index, (label, value, shown, _axis) in enumerate(items):
        bar_height = round(plot * value / maximum, 2)
        bars.append(
            Bar(
                label=label,
                value=value,
                x=round(index * slot + slot * 0.15, 2),
                y=round(top + plot - bar_height, 2),
                width=round(slot * 0.7, 2),
                height=bar_height,
                shown=shown,
            )
        )
    last = len(bars) - 1
    ticks = tuple(
        Tick(x=round(bar.x + bar.width / 2, 2), label=item[3])
        for index, (bar, item) in enumerate(zip(bars, items, strict=True))
        if (last - index) % every == 0
    )
    return BarChart(
        width=width,
        height=height,
        bars=bars,
        horizontal=False,
        label_x=top + plot,
        ticks=ticks,
        maximum=maximum,
    )
