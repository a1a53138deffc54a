"""Lead queries and writes. The caller (request or job) owns the transaction; we only flush.

A lead's bookings follow it: moving a lead to another customer moves the bookings made for it
to that customer too, so a booking's lead always belongs to the booking's customer (or to no
customer: detaching a lead, `customer_id: null`, leaves its bookings where they are).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, not_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.customers import service as customer_service
from leadflow.customers.counters import refresh_counters
from leadflow.errors import Conflict, NotFound, Unprocessable
from leadflow.leads.duplicates import check_duplicate_links
from leadflow.leads.ingest import ensure_customers
from leadflow.leads.responses import (
    ANSWER_FIELDS,
    awaiting_reply_filter,
    lock_responses,
    refresh_leads,
)
from leadflow.leads.schemas import LeadCreate, LeadUpdate
from leadflow.leads.transitions import allowed_targets, can_transition
from leadflow.models import Booking, EmailMessage, EmailThread, Lead, LeadStatus, utcnow
from leadflow.models.locks import lock_against_change, lock_for_update, lock_rows


def list_query(
    *,
    statuses: Sequence[LeadStatus] = (),
    source: str | None = None,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
    needs_review: bool | None = None,
    customer_id: int | None = None,
    awaiting_reply: bool | None = None,
) -> Select[Lead]:
    """Leads matching every given filter, newest received first (`received_to` is exclusive).

    `awaiting_reply=True`: only leads waiting for an answer (`leads.response_time`), oldest
    first, the order they should be answered in; False: every other lead.
    """
    if received_from and received_to and received_from >= received_to:
        raise Unprocessable(
            "received_to must be later than received_from",
            details=[{"field": "query.received_to", "message": "must be after received_from"}],
        )
    stmt = select(Lead)
    if statuses:
        stmt = stmt.where(Lead.status.in_(list(statuses)))
    if source is not None:
        stmt = stmt.where(Lead.source == source)
    if received_from is not None:
        stmt = stmt.where(Lead.received_at >= received_from)
    if received_to is not None:
        stmt = stmt.where(Lead.received_at < received_to)
    if needs_review is not None:
        stmt = stmt.where(Lead.needs_review.is_(needs_review))
    if customer_id is not None:
        stmt = stmt.where(Lead.customer_id == customer_id)
    if awaiting_reply is True:
        return stmt.where(awaiting_reply_filter()).order_by(Lead.received_at.asc(), Lead.id.asc())
    if awaiting_reply is False:
        stmt = stmt.where(not_(awaiting_reply_filter()))
    return stmt.order_by(Lead.received_at.desc().nulls_last(), Lead.id.desc())


async def get(session: AsyncSession, *, lead_id: int) -> Lead:
    lead = await session.get(Lead, lead_id)
    if lead is None:
        raise NotFound(f"lead {lead_id} not found", details={"lead_id": lead_id})
    return lead


async def source_mail(
    session: AsyncSession, *, lead: Lead
) -> tuple[EmailMessage | None, EmailThread | None]:
    """The stored email a lead was parsed from, and its thread (None for a lead typed in)."""
    if lead.mailbox_id is None:
        return None, None
    message = thread = None
    if lead.gmail_message_id is not None:
        message = await session.scalar(
            select(EmailMessage).where(
                EmailMessage.mailbox_id == lead.mailbox_id,
                EmailMessage.gmail_message_id == lead.gmail_message_id,
            )
        )
    if message is not None:
        thread = await session.get(EmailThread, message.thread_id)
    elif lead.gmail_thread_id is not None:
        thread = await session.scalar(
            select(EmailThread).where(
                EmailThread.mailbox_id == lead.mailbox_id,
                EmailThread.gmail_thread_id == lead.gmail_thread_id,
            )
        )
    return message, thread


async def create(session: AsyncSession, *, data: LeadCreate) -> Lead:
    """Create a manual lead on its customer (named, or found/created by email); recount it."""
    await lock_responses(session)  # before the customer row (`leads.responses`)
    lead = Lead(**data.model_dump())
    lead.received_at = data.received_at or utcnow()
    if data.customer_id is not None:
        await customer_service.require_customer(session, customer_id=data.customer_id)
    elif data.email is not None:
        lead.customer_id = (await ensure_customers(session, [data]))[data.email]
    session.add(lead)
    await session.flush()
    await refresh_counters(session, [lead.customer_id])
    # The customer may have been answered already (a reply to its address, a linked thread).
    await refresh_leads(session, [lead.id])
    await session.refresh(lead)
    return lead


async def update_lead(session: AsyncSession, *, lead_id: int, data: LeadUpdate) -> Lead:
    """Change a lead under its row lock: the status rule and the links see its current state."""
    changes = data.model_dump(exclude_unset=True)
    answer_depends = not ANSWER_FIELDS.isdisjoint(changes)
    if answer_depends:
        await lock_responses(session)  # before the lead row (`leads.responses`)
    original_id = changes.get("duplicate_of_id")
    if original_id is not None and original_id < lead_id:
        await lock_against_change(session, Lead, original_id)  # one lock order: ascending id
    lead = await lock_for_update(session, Lead, lead_id)
    if lead is None:
        raise NotFound(f"lead {lead_id} not found", details={"lead_id": lead_id})
    if "status" in changes:
        ensure_transition(lead_id=lead_id, current=lead.status, target=changes["status"])
    await check_duplicate_links(session, lead, changes)
    recount: set[int | None] = {lead.customer_id}
    target = changes.get("customer_id", lead.customer_id)
    if target != lead.customer_id and target is not None:
        bookings = await lock_rows(session, Booking, Booking.lead_id == lead_id)
        await customer_service.require_customer(session, customer_id=target)
        recount |= await _move_bookings(session, bookings, customer_id=target)
    _apply(lead, changes)
    await session.flush()
    # A new customer or a new received_at moves counters; recounting every side is cheap.
    await refresh_counters(session, [*recount, lead.customer_id])
    if answer_depends:
        await refresh_leads(session, [lead_id])
    await session.refresh(lead)
    return lead


def _apply(lead: Lead, changes: dict[str, Any]) -> None:
    for field, value in changes.items():
        setattr(lead, field, value)
    # `leads rescan` never overwrites a field a person set; status is workflow, not lead data.
    lead.edited_fields = sorted({*lead.edited_fields, *changes} - {"status"})


async def _move_bookings(
    session: AsyncSession, booking_ids: list[int], *, customer_id: int
) -> set[int | None]:
    """Put the (locked) bookings on `customer_id`; return the customers they were on."""
    if not booking_ids:
        return set()
    previous = await session.execute(select(Booking.customer_id).where(Booking.id.in_(booking_ids)))
    owners: set[int | None] = set(previous.scalars())
    await session.execute(
        update(Booking)
        .where(Booking.id.in_(booking_ids))
        .values(customer_id=customer_id)
        .execution_options(synchronize_session=False)
    )
    return owners


def ensure_transition(*, lead_id: int, current: LeadStatus, target: LeadStatus) -> None:
    """Raise Conflict unless the transitions table lets `current` become `target`."""
    if can_transition(current, target):
        return
    allowed = [status.value for status in allowed_targets(current)]
    allowed_text = ", ".join(allowed) or "none (final status)"
    raise Conflict(
        f"lead {lead_id} cannot change status from {current.value} to {target.value}; "
        f"allowed from {current.value}: {allowed_text}",
        details={"from": current.value, "to": target.value, "allowed": allowed},
    )
