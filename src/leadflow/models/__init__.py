"""The one shared models package: every table, enum and column type lives here."""

from leadflow.models.base import (
    NAMING_CONVENTION,
    Base,
    JSONType,
    UTCDateTime,
    indexes_for,
    utcnow,
)
from leadflow.models.enums import (
    ACTIVE_BOOKING_STATUSES,
    OPEN_LEAD_STATUSES,
    BookingStatus,
    CustomerStatus,
    Direction,
    IngestMode,
    IngestStatus,
    LeadStatus,
    MailProvider,
    MonitorState,
)
from leadflow.models.monitoring import UptimeEvent, UptimeIncident, UptimeMonitor
from leadflow.models.tables import (
    Booking,
    Customer,
    EmailIngestRun,
    EmailMessage,
    EmailThread,
    Lead,
    Mailbox,
    ManualThreadDecision,
)

__all__ = [
    "ACTIVE_BOOKING_STATUSES",
    "NAMING_CONVENTION",
    "OPEN_LEAD_STATUSES",
    "Base",
    "Booking",
    "BookingStatus",
    "Customer",
    "CustomerStatus",
    "Direction",
    "EmailIngestRun",
    "EmailMessage",
    "EmailThread",
    "IngestMode",
    "IngestStatus",
    "JSONType",
    "Lead",
    "LeadStatus",
    "MailProvider",
    "Mailbox",
    "ManualThreadDecision",
    "MonitorState",
    "UTCDateTime",
    "UptimeEvent",
    "UptimeIncident",
    "UptimeMonitor",
    "indexes_for",
    "utcnow",
]
