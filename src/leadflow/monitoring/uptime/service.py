"""Store an UptimeRobot alert and keep incidents; read the uptime overview.

`record_alert` runs in the caller's transaction (the webhook request owns it). It takes the
monitor's row lock first (PostgreSQL `FOR UPDATE`; SQLite's BEGIN IMMEDIATE already serialises
writers), so two alerts for one monitor cannot both open an incident; the partial unique index
on open incidents backs that up. The event insert is idempotent on (monitor, alert type,
alert time): a repeated delivery is stored once and changes nothing.

Incidents: a down alert opens one (unless the time is already inside one); an up alert closes
the open one with its duration. Alerts may arrive late or out of order: an up alert with no
open incident before it records the incident from its alertDuration, and a down alert older
than the open incident moves that incident's start back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.db import conflict_insert
from leadflow.models import MonitorState, UptimeEvent, UptimeIncident, UptimeMonitor
from leadflow.monitoring.uptime.alerts import Alert


@dataclass(frozen=True, slots=True)
class Recorded:
    event_id: int | None
    duplicate: bool
    incident: str  # opened | closed | recorded | extended | unchanged


def _start_of(alert: Alert) -> datetime:
    if alert.is_up and alert.duration_seconds:
        return alert.occurred_at - timedelta(seconds=alert.duration_seconds)
    return alert.occurred_at


async def _locked_monitor(session: AsyncSession, alert: Alert) -> UptimeMonitor:
    await session.execute(
        conflict_insert(session, UptimeMonitor)
        .values(
            external_id=alert.monitor_id,
            friendly_name=alert.friendly_name,
            url=alert.monitor_url,
            state=MonitorState.UNKNOWN,
            first_seen_at=_start_of(alert),
        )
        .on_conflict_do_nothing(index_elements=["external_id"])
    )
    monitor = await session.scalar(
        select(UptimeMonitor)
        .where(UptimeMonitor.external_id == alert.monitor_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert monitor is not None
    return monitor


async def record_alert(session: AsyncSession, alert: Alert, payload: dict[str, Any]) -> Recorded:
    """Store `alert` (once) and open, close or record the incident it implies."""
    monitor = await _locked_monitor(session, alert)
    event_id = await session.scalar(
        conflict_insert(session, UptimeEvent)
        .values(
            monitor_id=monitor.id,
            alert_type=alert.alert_type,
            alert_type_name=alert.type_name,
            details=alert.details,
            duration_seconds=alert.duration_seconds,
            occurred_at=alert.occurred_at,
            payload=payload,
        )
        .on_conflict_do_nothing(index_elements=["monitor_id", "alert_type", "occurred_at"])
        .returning(UptimeEvent.id)
    )
    if event_id is None:
        return Recorded(event_id=None, duplicate=True, incident="unchanged")
    if alert.friendly_name:
        monitor.friendly_name = alert.friendly_name
    if alert.monitor_url:
        monitor.url = alert.monitor_url
    monitor.first_seen_at = min(monitor.first_seen_at, _start_of(alert))
    latest = monitor.last_event_at is None or alert.occurred_at >= monitor.last_event_at
    if latest and (alert.is_down or alert.is_up):
        monitor.state = MonitorState.DOWN if alert.is_down else MonitorState.UP
    if monitor.last_event_at is None or alert.occurred_at > monitor.last_event_at:
        monitor.last_event_at = alert.occurred_at
    if alert.is_down:
        change = await _on_down(session, monitor, alert)
    elif alert.is_up:
        change = await _on_up(session, monitor, alert)
    else:
        change = "unchanged"
    await session.flush()
    return Recorded(event_id=event_id, duplicate=False, incident=change)


async def _covering(session: AsyncSession, monitor_id: int, moment: datetime) -> bool:
    found = await session.scalar(
        select(UptimeIncident.id)
        .where(
            UptimeIncident.monitor_id == monitor_id,
            UptimeIncident.started_at <= moment,
            UptimeIncident.ended_at.is_not(None),
            UptimeIncident.ended_at >= moment,
        )
        .limit(1)
    )
    return found is not None


async def _open_incident(session: AsyncSession, monitor_id: int) -> UptimeIncident | None:
    return await session.scalar(
        select(UptimeIncident).where(
            UptimeIncident.monitor_id == monitor_id, UptimeIncident.ended_at.is_(None)
        )
    )


async def _on_down(session: AsyncSession, monitor: UptimeMonitor, alert: Alert) -> str:
    if await _covering(session, monitor.id, alert.occurred_at):
        return "unchanged"
    open_incident = await _open_incident(session, monitor.id)
    if open_incident is not None:
        if alert.occurred_at < open_incident.started_at:
            open_incident.started_at = alert.occurred_at
            return "extended"
        return "unchanged"
    session.add(
        UptimeIncident(monitor_id=monitor.id, started_at=alert.occurred_at, cause=alert.details)
    )
    return "opened"


async def _on_up(session: AsyncSession, monitor: UptimeMonitor, alert: Alert) -> str:
    open_incident = await _open_incident(session, monitor.id)
    if open_incident is not None and open_incident.started_at <= alert.occurred_at:
        open_incident.ended_at = alert.occurred_at
        open_incident.duration_seconds = int(
            (alert.occurred_at - open_incident.started_at).total_seconds()
        )
        return "closed"
    if not alert.duration_seconds or await _covering(session, monitor.id, alert.occurred_at):
        return "unchanged"
    # The down alert never came (or comes later): the up alert says how long it was down.
    started = _start_of(alert)
    session.add(
        UptimeIncident(
            monitor_id=monitor.id,
            started_at=started,
            ended_at=alert.occurred_at,
            duration_seconds=alert.duration_seconds,
            cause=alert.details,
        )
    )
    return "recorded"
