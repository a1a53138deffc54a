"""Answers of the webhook and of GET /api/uptime."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from leadflow.models import MonitorState


class WebhookAccepted(BaseModel):
    event_id: int | None
    duplicate: bool
    incident: str


class UptimeRatios(BaseModel):
    """Percent up over the last 24 h / 7 d / 30 d, of the part the events cover (None: none)."""

    model_config = ConfigDict(populate_by_name=True)

    last_24h: float | None
    last_7d: float | None
    last_30d: float | None


class IncidentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    monitor_id: int
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: int | None
    cause: str | None


class MonitorOut(BaseModel):
    id: int
    external_id: str
    friendly_name: str | None
    url: str | None
    state: MonitorState
    first_seen_at: datetime
    last_event_at: datetime | None
    uptime: UptimeRatios
    open_incident: IncidentOut | None


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    monitor_id: int
    alert_type: int
    alert_type_name: str | None
    details: str | None
    duration_seconds: int | None
    occurred_at: datetime
    received_at: datetime


class UptimeOut(BaseModel):
    generated_at: datetime
    monitors: list[MonitorOut]
    open_incidents: list[IncidentOut]
    recent_incidents: list[IncidentOut]
    recent_events: list[EventOut]
