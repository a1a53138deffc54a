"""`leadflow monitoring status`: UptimeRobot's monitors, their state and uptime ratios."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leadflow.monitoring.uptimerobot.client import UptimeRobotClient

RATIO_DAYS = "1-7-30"
STATES = {0: "paused", 1: "not checked yet", 2: "up", 8: "seems down", 9: "down"}


@dataclass(frozen=True)
class MonitorStatus:
    id: str
    name: str
    url: str
    state: str
    ratios: tuple[str, str, str]  # percent over 1, 7 and 30 days ("-" when not given)


def _ratios(raw: Any) -> tuple[str, str, str]:
    parts = str(raw or "").split("-")
    padded = [*parts, "-", "-", "-"][:3]
    return (padded[0] or "-", padded[1] or "-", padded[2] or "-")


def read_status(monitor: dict[str, Any]) -> MonitorStatus:
    try:
        state = STATES.get(int(monitor.get("status", -1)), f"status {monitor.get('status')}")
    except (TypeError, ValueError):
        state = f"status {monitor.get('status')}"
    return MonitorStatus(
        id=str(monitor.get("id")),
        name=str(monitor.get("friendly_name") or ""),
        url=str(monitor.get("url") or ""),
        state=state,
        ratios=_ratios(monitor.get("custom_uptime_ratio")),
    )


async def monitor_statuses(client: UptimeRobotClient) -> list[MonitorStatus]:
    monitors = await client.monitors(uptime_ratios=RATIO_DAYS)
    return [read_status(m) for m in monitors]
