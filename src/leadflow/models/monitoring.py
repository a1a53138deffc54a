"""UptimeRobot's view of leadflow: monitors, the alert events it sent, and incidents (down → up)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from leadflow.models.base import Base, JSONType, UTCDateTime, utcnow
from leadflow.models.enums import MonitorState
from leadflow.models.tables import _enum


class UptimeMonitor(Base):
    __tablename__ = "uptime_monitors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(32), unique=True)  # UptimeRobot monitorID
    friendly_name: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(2000))
    state: Mapped[MonitorState] = mapped_column(
        _enum(MonitorState, "state"), default=MonitorState.UNKNOWN
    )
    # Start of what the events cover: uptime is computed over [first_seen_at, now] at most.
    first_seen_at: Mapped[datetime]
    last_event_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UptimeEvent(Base):
    """One alert as received; (monitor, alert type, alert time) identifies it."""

    __tablename__ = "uptime_events"
    __table_args__ = (
        UniqueConstraint("monitor_id", "alert_type", "occurred_at"),
        Index("ix_uptime_events_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("uptime_monitors.id", ondelete="CASCADE"))
    alert_type: Mapped[int] = mapped_column(Integer)  # 1 down, 2 up, 3 SSL expiry
    alert_type_name: Mapped[str | None] = mapped_column(String(50))
    details: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class UptimeIncident(Base):
    """A stretch of downtime of one monitor; `ended_at` is None while it lasts (at most one)."""

    __tablename__ = "uptime_incidents"
    __table_args__ = (
        Index("ix_uptime_incidents_monitor_id_started_at", "monitor_id", "started_at"),
        Index(
            "ix_uptime_incidents_monitor_id_open",
            "monitor_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("uptime_monitors.id", ondelete="CASCADE"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    cause: Mapped[str | None] = mapped_column(Text)
