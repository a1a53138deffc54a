"""Enumerated values stored as short strings with CHECK constraints."""

from __future__ import annotations

from enum import StrEnum


class MailProvider(StrEnum):
    GMAIL = "gmail"
    MBOX = "mbox"


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class LeadStatus(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    QUOTED = "quoted"
    WON = "won"
    LOST = "lost"
    SPAM = "spam"


OPEN_LEAD_STATUSES = (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUOTED)


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class IngestMode(StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"
    MBOX = "mbox"


class IngestStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    PARTIAL = "partial"


class BookingStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


ACTIVE_BOOKING_STATUSES = (BookingStatus.SCHEDULED, BookingStatus.CONFIRMED)


class MonitorState(StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"
