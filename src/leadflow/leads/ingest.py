"""Leads from newly stored lead emails: one lead per email, customers found or created race-safe.

Runs as a pipeline processor (after each stored batch, in the batch's transaction) and on demand
(`reprocess_leads`). Idempotent: the unique (mailbox_id, gmail_message_id) key makes a second
run over the same messages create nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.customers.counters import refresh_counters
from leadflow.db import conflict_insert
from leadflow.leads.parsers import LeadEmail, ParsedLead, parse_lead
from leadflow.leads.repair import snapshot
from leadflow.leads.responses import (
    facts_of_messages,
    lock_responses,
    refresh_for_messages,
    refresh_leads,
)
from leadflow.mail.message import ParsedMessage
from leadflow.models import (
    OPEN_LEAD_STATUSES,
    Customer,
    Lead,
    Mailbox,
    utcnow,
)
from leadflow.settings import Settings
from leadflow.sync.store import StoredMessage

DUPLICATE_WINDOW = timedelta(days=30)
# Leads inserted per statement; also bounds the ids excluded from each duplicate lookup.
LEAD_CHUNK = 200


@dataclass
class LeadIngestReport:
    examined: int = 0
    leads_created: int = 0
    duplicates: int = 0
    needs_review: int = 0
    customers_created: int = 0
    customer_ids: set[int] = field(default_factory=set)


def find_lead(message: ParsedMessage, settings: Settings) -> ParsedLead | None:
    """Return the lead a received message carries, or None (pure).

    Direction is not the test: the website form mails from a no-reply at an own domain, which
    the MIME parser rightly calls outbound. Mail we sent ourselves (SENT label) is never a lead.
    """
    if "SENT" in message.labels:
        return None
    return parse_lead(
        LeadEmail.from_parsed(message),
        senders=settings.lead_senders,
        own_domains=settings.own_domains,
    )


class CustomerDetails(Protocol):
    """What a lead tells about its customer (a parsed email lead or one entered in the API)."""

    @property
    def email(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def address(self) -> str | None: ...
    @property
    def postal_code(self) -> str | None: ...
    @property
    def city(self) -> str | None: ...


async def ensure_customers(
    session: AsyncSession,
    leads: Iterable[CustomerDetails],
    report: LeadIngestReport | None = None,
) -> dict[str, int]:
    """Find or create a customer per lead email (INSERT … ON CONFLICT), fill only empty fields.

    The one way a lead finds its customer, for leads from mail and leads entered in the API.
    """
    by_email: dict[str, CustomerDetails] = {}
    for lead in leads:
        if lead.email:
            by_email.setdefault(lead.email, lead)
    if not by_email:
        return {}
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "email": email,
            "name": lead.name,
            "phone": lead.phone,
            "address": lead.address,
            "postal_code": lead.postal_code,
            "city": lead.city,
            "status": "active",
            "tags": [],
            "total_leads": 0,
            "total_bookings": 0,
            "created_at": now,
            "updated_at": now,
        }
        for email, lead in by_email.items()
    ]
    stmt = conflict_insert(session, Customer).values(rows)
    stmt = stmt.on_conflict_do_nothing(index_elements=["email"]).returning(Customer.id)
    created = len((await session.execute(stmt)).all())
    if report is not None:
        report.customers_created += created
    found = await session.execute(
        select(Customer.id, Customer.email).where(Customer.email.in_(list(by_email)))
    )
    ids = {email: cid for cid, email in found.all() if email}
    await fill_customer_fields(session, [(ids[email], lead) for email, lead in by_email.items()])
    return ids


async def fill_customer_fields(
    session: AsyncSession, pairs: Sequence[tuple[int, CustomerDetails]]
) -> None:
    """Fill each customer's empty name, phone and address fields from its lead."""
    if not pairs:
        return
    # A person may have typed better data already: only empty fields are filled.
    await session.execute(
        _FILL_EMPTY_FIELDS,
        [
            {"b_id": cid, **{f"b_{name}": getattr(lead, name) for name in _FILLED}}
            for cid, lead in pairs
        ],
    )


_FILLED = ("name", "phone", "address", "postal_code", "city")
_CUSTOMERS = cast(Table, Customer.__table__)
# Core executemany: one statement for the batch instead of one round trip per customer.
_FILL_EMPTY_FIELDS = (
    update(_CUSTOMERS)
    .where(_CUSTOMERS.c.id == bindparam("b_id"))
    .values({name: func.coalesce(_CUSTOMERS.c[name], bindparam(f"b_{name}")) for name in _FILLED})
)


async def open_original(
    session: AsyncSession, *, email: str, received_at: datetime, exclude_ids: Sequence[int]
) -> int | None:
    """The earliest open, non-duplicate lead of `email` from the 30 days before `received_at`."""
    stmt = (
        select(Lead.id)
        .where(
            Lead.email == email,
            Lead.id.not_in(exclude_ids),
            Lead.duplicate_of_id.is_(None),
            Lead.status.in_(list(OPEN_LEAD_STATUSES)),
            Lead.received_at <= received_at,
            Lead.received_at >= received_at - DUPLICATE_WINDOW,
        )
        .order_by(Lead.received_at.asc(), Lead.id.asc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def ingest_leads(
    session: AsyncSession,
    *,
    mailbox_id: int,
    messages: Sequence[StoredMessage],
    settings: Settings,
) -> LeadIngestReport:
    """Create the leads (and customers) that `messages` carry; skip those already made."""
    report = LeadIngestReport(examined=len(messages))
    found: list[tuple[StoredMessage, ParsedLead]] = []
    for stored in messages:
        lead = find_lead(stored.message, settings)
        if lead is not None:
            found.append((stored, lead))
    if not found:
        return report
    existing = set(
        (
            await session.execute(
                select(Lead.gmail_message_id).where(
                    Lead.mailbox_id == mailbox_id,
                    Lead.gmail_message_id.in_([s.gmail_message_id for s, _ in found]),
                )
            )
        ).scalars()
    )
    found = [(s, lead) for s, lead in found if s.gmail_message_id not in existing]
    if not found:
        return report
    await lock_responses(session)  # before the customer rows (`leads.responses`)
    customers = await ensure_customers(session, (lead for _, lead in found), report)
    # Oldest first, so the first lead of a customer is the original and later ones duplicates.
    found.sort(key=lambda pair: (pair[1].received_at or utcnow(), pair[0].gmail_message_id))
    created: list[int] = []
    for start in range(0, len(found), LEAD_CHUNK):
        chunk = found[start : start + LEAD_CHUNK]
        lead_ids = await _insert_leads(session, mailbox_id, chunk, customers)
        for position, (stored, parsed) in enumerate(chunk):
            lead_id = lead_ids.get(stored.gmail_message_id)
            if lead_id is None:
                continue  # a concurrent run made it first
            report.leads_created += 1
            created.append(lead_id)
            report.needs_review += int(parsed.needs_review)
            customer_id = customers.get(parsed.email) if parsed.email else None
            if customer_id is not None:
                report.customer_ids.add(customer_id)
            if parsed.email and parsed.received_at:
                # Leads later in the order are stored already but must not count as earlier.
                later = [lead_ids.get(s.gmail_message_id) for s, _ in chunk[position:]]
                original = await open_original(
                    session,
                    email=parsed.email,
                    received_at=parsed.received_at,
                    exclude_ids=[lid for lid in later if lid is not None],
                )
                if original is not None:
                    await session.execute(
                        update(Lead).where(Lead.id == lead_id).values(duplicate_of_id=original)
                    )
                    report.duplicates += 1
    await refresh_counters(session, report.customer_ids)
    # A reply may be stored already; and a lead's own mail is no reply to the other leads.
    await refresh_leads(session, created)
    await refresh_for_messages(session, await facts_of_messages(session, [s.id for s, _ in found]))
    return report


async def _insert_leads(
    session: AsyncSession,
    mailbox_id: int,
    leads: Sequence[tuple[StoredMessage, ParsedLead]],
    customers: Mapping[str, int],
) -> dict[str, int]:
    """Insert the leads (those already stored are skipped); return gmail_message_id → new id."""
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "customer_id": customers.get(parsed.email) if parsed.email else None,
            "source": parsed.source,
            "name": parsed.name,
            "email": parsed.email,
            "phone": parsed.phone,
            "address": parsed.address,
            "postal_code": parsed.postal_code,
            "city": parsed.city,
            "square_meters": parsed.square_meters,
            "rooms": parsed.rooms,
            "floor": parsed.floor,
            "property_type": parsed.property_type,
            "task_type": parsed.task_type,
            "contact_type": parsed.contact_type,
            "preferred_date": parsed.preferred_date,
            "preferred_date_text": parsed.preferred_date_text,
            "message": parsed.message,
            "details": parsed.details,
            "parsed": snapshot(parsed),
            "edited_fields": [],
            "status": "new",
            "needs_review": parsed.needs_review,
            "mailbox_id": mailbox_id,
            "gmail_message_id": stored.gmail_message_id,
            "gmail_thread_id": stored.gmail_thread_id,
            "received_at": parsed.received_at or stored.message.sent_at or now,
            "created_at": now,
            "updated_at": now,
        }
        for stored, parsed in leads
    ]
    if not rows:
        return {}
    stmt = (
        conflict_insert(session, Lead)
        .on_conflict_do_nothing(index_elements=["mailbox_id", "gmail_message_id"])
        .returning(Lead.gmail_message_id, Lead.id)
    )
    # executemany with RETURNING: one statement per chunk instead of one per lead.
    return {gid: lead_id for gid, lead_id in await session.execute(stmt, rows)}


@dataclass
class LeadProcessor:
    """Pipeline step: turn lead emails of each stored batch into leads and customers."""

    settings: Settings
    total: LeadIngestReport = field(default_factory=LeadIngestReport)

    async def process(
        self, session: AsyncSession, mailbox: Mailbox, stored: Sequence[StoredMessage]
    ) -> None:
        report = await ingest_leads(
            session, mailbox_id=mailbox.id, messages=stored, settings=self.settings
        )
        self.total.examined += report.examined
        self.total.leads_created += report.leads_created
        self.total.duplicates += report.duplicates
        self.total.needs_review += report.needs_review
        self.total.customers_created += report.customers_created
        self.total.customer_ids |= report.customer_ids

    async def finish(self, session: AsyncSession, mailbox: Mailbox) -> None:
        """New customers can make threads stored earlier in this sync matchable: rematch them.

        A full sync lists the newest mail first, so a customer's replies are often stored
        before the lead email that creates the customer.
        """
        if self.total.customers_created:
            from leadflow.matching.processor import rematch_after_sync

            await rematch_after_sync(session, self.settings)
