"""Uptime percentages from incidents (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def uptime_percent(
    incidents: Iterable[tuple[datetime, datetime | None]],
    *,
    observed_from: datetime,
    now: datetime,
    window: timedelta,
) -> float | None:
    """Percent of [max(now - window, observed_from), now] not covered by any incident.

    An open incident (end None) lasts until `now`; overlapping incidents count once. None when
    nothing of the window has been observed yet.
    """
    start = max(now - window, observed_from)
    total = (now - start).total_seconds()
    if total <= 0:
        return None
    spans = sorted(
        (max(begin, start), min(end or now, now))
        for begin, end in incidents
        if (end or now) > start and begin < now
    )
    down = 0.0
    cursor = start
    for begin, end in spans:
        begin = max(begin, cursor)
        if end > begin:
            down += (end - begin).total_seconds()
            cursor = end
    return round(100.0 * (total - down) / total, 4)
