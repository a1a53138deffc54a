"""All leadflow tables. Column and index names are part of the contract (see issue #2)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from leadflow.models.base import Base, JSONType, Timestamps, UTCDateTime, utcnow
from leadflow.models.enums import (
    BookingStatus,
    CustomerStatus,
    Direction,
    IngestMode,
    IngestStatus,
    LeadStatus,
    MailProvider,
)


def _enum(cls: type[StrEnum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def _json_list() -> Any:
    return mapped_column(JSONType, default=list, nullable=False)


class Mailbox(Base):
    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    provider: Mapped[MailProvider] = mapped_column(_enum(MailProvider, "provider"))
    sync_cursor: Mapped[str | None] = mapped_column(String(64))
    last_sync_started_at: Mapped[datetime | None]
    last_sync_succeeded_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Customer(Timestamps, Base):
    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_email", "email", unique=True),
        Index("ix_customers_phone", "phone"),
        # Sort orders of GET /api/customers, and the dashboard's active count (issue #10).
        Index("ix_customers_name", "name"),
        Index("ix_customers_created_at", "created_at"),
        Index("ix_customers_last_contact_at", "last_contact_at"),
        Index("ix_customers_status", "status"),
        # Search (?q=) matches inside names, emails and phones: trigram indexes (PostgreSQL).
        *(
            Index(
                f"ix_customers_{column}_trgm",
                column,
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            ).ddl_if(dialect="postgresql")
            for column in ("name", "email", "phone")
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(300))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(100))
    company_name: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[CustomerStatus] = mapped_column(
        _enum(CustomerStatus, "status"), default=CustomerStatus.ACTIVE
    )
    tags: Mapped[list[str]] = _json_list()
    total_leads: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    total_bookings: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_contact_at: Mapped[datetime | None]


class Lead(Timestamps, Base):
    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "gmail_message_id"),
        Index("ix_leads_email", "email"),
        Index("ix_leads_status", "status"),
        Index("ix_leads_customer_id", "customer_id"),
        Index("ix_leads_status_created_at", "status", "created_at"),
        Index("ix_leads_mailbox_id_gmail_thread_id", "mailbox_id", "gmail_thread_id"),
        Index("ix_leads_source", "source"),
        Index("ix_leads_needs_review", "needs_review"),
        # Deleting a lead sets these references to NULL: without an index, each delete reads
        # the whole table (issue #10: retention deletes thousands).
        Index("ix_leads_duplicate_of_id", "duplicate_of_id"),
        # The leads a deleted or moved reply answered (leads.responses.leads_touched_by).
        Index("ix_leads_first_response_at", "first_response_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(50))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(300))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(100))
    square_meters: Mapped[float | None] = mapped_column(Float)
    rooms: Mapped[int | None] = mapped_column(Integer)
    floor: Mapped[str | None] = mapped_column(String(50))
    property_type: Mapped[str | None] = mapped_column(String(100))
    task_type: Mapped[str | None] = mapped_column(String(100))
    contact_type: Mapped[str | None] = mapped_column(String(50))
    preferred_date: Mapped[date | None] = mapped_column(Date)
    preferred_date_text: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    # Labelled answers no column takes (label as written -> value): nothing a lead says is lost.
    details: Mapped[dict[str, str]] = mapped_column(
        JSONType, default=dict, server_default=text("'{}'"), nullable=False
    )
    # What the parser read at the last parse (NULL: made by hand, or parsed before 0005), and
    # the fields a person has set through the API: `leads rescan` never overwrites those.
    parsed: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    edited_fields: Mapped[list[str]] = mapped_column(
        JSONType, default=list, server_default=text("'[]'"), nullable=False
    )
    status: Mapped[LeadStatus] = mapped_column(
        _enum(LeadStatus, "status"), default=LeadStatus.NEW, server_default=LeadStatus.NEW.value
    )
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"))
    gmail_message_id: Mapped[str | None] = mapped_column(String(200))
    gmail_thread_id: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime | None]
    # When the business first answered (leads.response_time); NULL: not answered (yet).
    first_response_at: Mapped[datetime | None]
    # The slow-answer alert (leads.response_alerts): claimed by one worker, then marked sent.
    response_alert_claimed_at: Mapped[datetime | None]
    response_alert_sent_at: Mapped[datetime | None]


class EmailThread(Timestamps, Base):
    __tablename__ = "email_threads"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "gmail_thread_id"),
        Index("ix_email_threads_customer_id", "customer_id"),
        Index("ix_email_threads_is_matched", "is_matched"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    gmail_thread_id: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    subject: Mapped[str | None] = mapped_column(Text)
    snippet: Mapped[str | None] = mapped_column(Text)
    participants: Mapped[list[str]] = _json_list()
    labels: Mapped[list[str]] = _json_list()
    message_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_message_at: Mapped[datetime | None]
    is_matched: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    matched_at: Mapped[datetime | None]
    matched_by: Mapped[str | None] = mapped_column(String(20))
    confidence: Mapped[float | None] = mapped_column(Float)
    match_note: Mapped[str | None] = mapped_column(Text)

    messages: Mapped[list[EmailMessage]] = relationship(
        back_populates="thread", lazy="raise", order_by="EmailMessage.sent_at"
    )


class EmailMessage(Base):
    __tablename__ = "email_messages"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "gmail_message_id"),
        Index("ix_email_messages_thread_id", "thread_id"),
        Index("ix_email_messages_sent_at", "sent_at"),
        Index("ix_email_messages_thread_id_sent_at", "thread_id", "sent_at"),
        Index("ix_email_messages_rfc822_message_id", "rfc822_message_id"),
        # Mail to an address (leads.responses: replies to a lead's email), PostgreSQL's jsonb ?|.
        *(
            Index(f"ix_email_messages_{column}", column, postgresql_using="gin").ddl_if(
                dialect="postgresql"
            )
            for column in ("to_addresses", "cc_addresses")
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("email_threads.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    gmail_message_id: Mapped[str] = mapped_column(String(200))
    rfc822_message_id: Mapped[str | None] = mapped_column(String(998))
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[list[str]] = _json_list()
    from_address: Mapped[str | None] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(300))
    to_addresses: Mapped[list[str]] = _json_list()
    cc_addresses: Mapped[list[str]] = _json_list()
    reply_to_addresses: Mapped[list[str]] = _json_list()
    subject: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    body_truncated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    snippet: Mapped[str | None] = mapped_column(Text)
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    labels: Mapped[list[str]] = _json_list()
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    attachments: Mapped[list[dict[str, Any]]] = _json_list()
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime | None]
    history_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    thread: Mapped[EmailThread] = relationship(back_populates="messages", lazy="raise")


class ManualThreadDecision(Base):
    """A manual link or unlink of a thread that left the mailbox (every message deleted, trashed
    or marked spam), kept until the thread comes back (`sync.thread_aggregates`).

    A thread row goes with its last message; without this the owner's decision would go with it,
    and a thread taken back out of the bin would be matched by the rules again. At most one row
    per thread that was ever decided by hand, so no retention rule is needed. `customer_id`
    NULL: unlinked by hand; a deleted customer takes its links with it.
    """

    __tablename__ = "manual_thread_decisions"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "gmail_thread_id"),
        Index("ix_manual_thread_decisions_customer_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    gmail_thread_id: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    decided_at: Mapped[datetime | None]
    removed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EmailIngestRun(Base):
    __tablename__ = "email_ingest_runs"
    __table_args__ = (
        Index("ix_email_ingest_runs_mailbox_id_started_at", "mailbox_id", "started_at"),
        Index("ix_email_ingest_runs_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    mode: Mapped[IngestMode] = mapped_column(_enum(IngestMode, "mode"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[IngestStatus] = mapped_column(
        _enum(IngestStatus, "status"), default=IngestStatus.RUNNING
    )
    total_emails: Mapped[int] = mapped_column(Integer, default=0)
    new_emails: Mapped[int] = mapped_column(Integer, default=0)
    updated_emails: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    error_log: Mapped[list[dict[str, Any]]] = _json_list()
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    retries: Mapped[int] = mapped_column(Integer, default=0)


class Booking(Timestamps, Base):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("end_time > start_time", name="end_after_start"),
        Index("ix_bookings_customer_id", "customer_id"),
        Index("ix_bookings_start_time", "start_time"),
        Index("ix_bookings_team_start_time", "team", "start_time"),
        # A customer's bookings in start order; the longest booking, which bounds a time
        # range's walk along start_time (bookings.service.starts_within_reach) (issue #10).
        Index("ix_bookings_customer_id_start_time", "customer_id", "start_time"),
        Index("ix_bookings_lead_id", "lead_id"),
        Index("ix_bookings_duration", text("(end_time - start_time)")).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # RESTRICT: a customer with bookings cannot be deleted behind the API's back; the API's
    # forced delete removes the bookings it counted itself (customers.service.delete_customer).
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    service_type: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(300))
    team: Mapped[str] = mapped_column(String(100), default="default", server_default="default")
    start_time: Mapped[datetime]
    end_time: Mapped[datetime]
    status: Mapped[BookingStatus] = mapped_column(
        _enum(BookingStatus, "status"), default=BookingStatus.SCHEDULED
    )
    notes: Mapped[str | None] = mapped_column(Text)

    @validates("team")
    def _normalise_team(self, _key: str, value: str) -> str:
        return normalise_team(value)


def normalise_team(team: str) -> str:
    """The stored form of a team name (trimmed, lower-cased): teams compare case-insensitively.

    The exclusion constraint compares stored names, so every writer must store this form; the
    API schema lower-cases too, and `Booking.team` applies it to any other ORM write.
    """
    return team.strip().lower()


# Indexes in the lists' own order (newest first, undated last), so a page is read straight off
# the index (issue #10). SQLite has no NULLS LAST in index definitions, but sorts NULLs first, so
# plain DESC is the same order there. Declared after the classes: they use column expressions.
def _newest_first(name: str, column: Any, *, leading: Any = None, **options: Any) -> None:
    first = [leading] if leading is not None else []
    Index(name, *first, column.desc().nulls_last(), **options).ddl_if(dialect="postgresql")
    sqlite_options = {k: v for k, v in options.items() if k.startswith("sqlite_")}
    Index(name, *first, column.desc(), **sqlite_options).ddl_if(dialect="sqlite")


_newest_first(
    "ix_leads_received_at", Lead.received_at, postgresql_include=["status", "duplicate_of_id"]
)
_newest_first("ix_email_threads_last_message_at", EmailThread.last_message_at)
_newest_first(
    "ix_email_threads_customer_id_last_message_at",
    EmailThread.last_message_at,
    leading=EmailThread.customer_id,
)
_newest_first("ix_leads_status_received_at", Lead.received_at, leading=Lead.status)
# GET /api/customers sorts descending with empty values last: a backward scan of the ascending
# index would put them first, so PostgreSQL gets these too (SQLite sorts a page of a small table).
Index("ix_customers_name_desc", Customer.name.desc().nulls_last()).ddl_if(dialect="postgresql")
Index("ix_customers_last_contact_at_desc", Customer.last_contact_at.desc().nulls_last()).ddl_if(
    dialect="postgresql"
)
# GET /api/leads?awaiting_reply=true and the dashboard's "waiting past the target" count: new
# leads nobody has answered, oldest first (leads.response_time.AWAITING_STATUSES).
_AWAITING = (Lead.first_response_at.is_(None)) & (Lead.status == LeadStatus.NEW.value)
Index(
    "ix_leads_awaiting_reply_received_at",
    Lead.received_at,
    Lead.id,
    postgresql_where=_AWAITING,
    sqlite_where=_AWAITING,
)
_newest_first(
    "ix_email_threads_unmatched_last_message_at",
    EmailThread.last_message_at,
    postgresql_where=EmailThread.is_matched.is_(False),
    sqlite_where=EmailThread.is_matched.is_(False),
)


class DashboardLogout(Base):
    """A dashboard session that was logged out, refused until it would have expired anyway.

    The session cookie is signed and holds no server state (`dashboard.web.session`); without
    this, a copy of the cookie taken before the logout kept working until its expiry. Rows
    whose `expires_at` has passed are deleted at the next logout.
    """

    __tablename__ = "dashboard_logouts"
    __table_args__ = (Index("ix_dashboard_logouts_expires_at", "expires_at"),)

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
