"""GET /api/uptime's answer: monitors with uptime ratios, open incidents, recent history."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import UptimeEvent, UptimeIncident, UptimeMonitor
from leadflow.monitoring.uptime.ratios import WINDOWS, uptime_percent
from leadflow.monitoring.uptime.schemas import (
    EventOut,
    IncidentOut,
    MonitorOut,
    UptimeOut,
    UptimeRatios,
)

RECENT = 50


async def uptime_overview(session: AsyncSession, *, now: datetime) -> UptimeOut:
    monitors = (await session.scalars(select(UptimeMonitor).order_by(UptimeMonitor.id))).all()
    oldest = now - max(WINDOWS.values())
    relevant = (
        await session.scalars(
            select(UptimeIncident).where(
                or_(UptimeIncident.ended_at.is_(None), UptimeIncident.ended_at > oldest)
            )
        )
    ).all()
    by_monitor: dict[int, list[UptimeIncident]] = defaultdict(list)
    for incident in relevant:
        by_monitor[incident.monitor_id].append(incident)
    rows = []
    for monitor in monitors:
        spans = [(i.started_at, i.ended_at) for i in by_monitor[monitor.id]]
        ratios = {
            name: uptime_percent(spans, observed_from=monitor.first_seen_at, now=now, window=w)
            for name, w in WINDOWS.items()
        }
        open_incident = next((i for i in by_monitor[monitor.id] if i.ended_at is None), None)
        rows.append(
            MonitorOut(
                id=monitor.id,
                external_id=monitor.external_id,
                friendly_name=monitor.friendly_name,
                url=monitor.url,
                state=monitor.state,
                first_seen_at=monitor.first_seen_at,
                last_event_at=monitor.last_event_at,
                uptime=UptimeRatios(
                    last_24h=ratios["24h"], last_7d=ratios["7d"], last_30d=ratios["30d"]
                ),
                open_incident=IncidentOut.model_validate(open_incident) if open_incident else None,
            )
        )
    open_incidents = [i for i in relevant if i.ended_at is None]
    recent_incidents = (
        await session.scalars(
            select(UptimeIncident)
            .order_by(UptimeIncident.started_at.desc(), UptimeIncident.id.desc())
            .limit(RECENT)
        )
    ).all()
    recent_events = (
        await session.scalars(
            select(UptimeEvent)
            .order_by(UptimeEvent.occurred_at.desc(), UptimeEvent.id.desc())
            .limit(RECENT)
        )
    ).all()
    return UptimeOut(
        generated_at=now,
        monitors=rows,
        open_incidents=[IncidentOut.model_validate(i) for i in open_incidents],
        recent_incidents=[IncidentOut.model_validate(i) for i in recent_incidents],
        recent_events=[EventOut.model_validate(e) for e in recent_events],
    )
