"""Dashboard API shapes."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from leadflow.models import IngestMode, IngestStatus, MailProvider


class DayCount(BaseModel):
    day: date = Field(description="A calendar day in the business time zone.")
    count: int


class LeadStats(BaseModel):
    total: int
    new_today: int = Field(description="Received since midnight today (business time zone).")
    new_7d: int = Field(description="Received during the last 7 calendar days, today included.")
    new_30d: int = Field(description="Received during the last 30 calendar days, today included.")
    open: int = Field(description="New, contacted or quoted, and not a duplicate.")
    by_status: dict[str, int] = Field(description="Every status, zero included.")
    by_source: dict[str, int]
    per_day: list[DayCount] = Field(
        description="Leads received on each of the last 30 calendar days, oldest first, "
        "today last (zero days included)."
    )


class CustomerStats(BaseModel):
    total: int
    active: int


class BookingStats(BaseModel):
    upcoming: int = Field(description="Scheduled or confirmed, starting now or later.")
    next_7_days: int = Field(description="Upcoming and starting within the next 7 days.")


class ThreadStats(BaseModel):
    total: int
    matched: int
    unmatched: int


class IngestRunSummary(BaseModel):
    status: IngestStatus
    mode: IngestMode
    started_at: datetime
    finished_at: datetime | None


class MailboxSyncStatus(BaseModel):
    id: int
    email: str
    provider: MailProvider
    last_sync_started_at: datetime | None
    last_sync_succeeded_at: datetime | None
    last_error: str | None
    last_run: IngestRunSummary | None


class ResponseWindow(BaseModel):
    answered: int = Field(description="Leads of the window that have been answered.")
    median_minutes: float | None = Field(
        description="Median minutes from arrival to the first answer; null: none answered."
    )
    p90_minutes: float | None = Field(
        description="90th percentile of the same (nine in ten were answered this fast)."
    )


class ResponseTimeStats(BaseModel):
    """How fast new leads are answered (first outbound mail after the lead arrived)."""

    target_minutes: int = Field(description="LEADFLOW_RESPONSE_TARGET_MINUTES.")
    last_7d: ResponseWindow = Field(
        description="Leads received during the last 7 calendar days (spam and duplicates left out)."
    )
    last_30d: ResponseWindow = Field(description="The same over the last 30 calendar days.")
    waiting: int = Field(description="New leads without an answer (?awaiting_reply=true).")
    waiting_past_target: int = Field(
        description="Of those, the ones that arrived more than target_minutes ago."
    )
    oldest_waiting_since: datetime | None = Field(
        description="When the longest-waiting lead arrived; null when none waits."
    )


class DashboardStats(BaseModel):
    generated_at: datetime
    timezone: str
    leads: LeadStats
    customers: CustomerStats
    bookings: BookingStats
    threads: ThreadStats
    mailboxes: list[MailboxSyncStatus]
    response_times: ResponseTimeStats
