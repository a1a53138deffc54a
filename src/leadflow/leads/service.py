"""Lead queries and writes. The caller (request or job) owns the transaction; we only flush."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, case, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.customers import service as customer_service
from leadflow.errors import Conflict, NotFound, Unprocessable
from leadflow.leads.schemas import LeadCreate, LeadUpdate
from leadflow.leads.transitions import allowed_targets, can_transition
from leadflow.models import Customer, Lead, LeadStatus, UTCDateTime, utcnow


def list_query(
    *,
    statuses: Sequence[LeadStatus] = (),
    source: str | None = None,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
    needs_review: bool | None = None,
    customer_id: int | None = None,
) -> Select[Lead]:
    """Leads matching every given filter, newest received first (`received_to` is exclusive)."""
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
    return stmt.order_by(Lead.received_at.desc().nulls_last(), Lead.id.desc())


async def get(session: AsyncSession, *, lead_id: int) -> Lead:
    lead = await session.get(Lead, lead_id)
    if lead is None:
        raise NotFound(f"lead {lead_id} not found", details={"lead_id": lead_id})
    return lead


async def create(session: AsyncSession, *, data: LeadCreate) -> Lead:
    """Create a manual lead; a linked customer's lead count and last contact move with it."""
    lead = Lead(**data.model_dump())
    lead.received_at = data.received_at or utcnow()
    if data.customer_id is not None:
        await customer_service.get(session, customer_id=data.customer_id)
        await count_lead_for_customer(
            session, customer_id=data.customer_id, contact_at=lead.received_at
        )
    session.add(lead)
    await session.flush()
    return lead


async def update_lead(session: AsyncSession, *, lead_id: int, data: LeadUpdate) -> Lead:
    lead = await get(session, lead_id=lead_id)
    changes = data.model_dump(exclude_unset=True)
    if "status" in changes:
        ensure_transition(lead_id=lead_id, current=lead.status, target=changes["status"])
    if changes.get("duplicate_of_id") is not None:
        await _ensure_can_duplicate(
            session, lead_id=lead_id, original_id=changes["duplicate_of_id"]
        )
    if "customer_id" in changes and changes["customer_id"] != lead.customer_id:
        await _move_to_customer(session, lead=lead, customer_id=changes["customer_id"])
    for field, value in changes.items():
        setattr(lead, field, value)
    await session.flush()
    await session.refresh(lead)
    return lead


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


async def count_lead_for_customer(
    session: AsyncSession, *, customer_id: int, contact_at: datetime
) -> None:
    """Add one lead to the customer's total and move last_contact_at forward to `contact_at`."""
    when = literal(contact_at, UTCDateTime())
    newer = case(
        (Customer.last_contact_at.is_(None), when),
        (Customer.last_contact_at < when, when),
        else_=Customer.last_contact_at,
    )
    # One UPDATE rather than read-modify-write, so concurrent leads never lose a count.
    await session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(total_leads=Customer.total_leads + 1, last_contact_at=newer)
        .execution_options(synchronize_session="fetch")
    )


async def _uncount_lead_for_customer(session: AsyncSession, *, customer_id: int) -> None:
    await session.execute(
        update(Customer)
        .where(Customer.id == customer_id, Customer.total_leads > 0)
        .values(total_leads=Customer.total_leads - 1)
        .execution_options(synchronize_session="fetch")
    )


async def _move_to_customer(session: AsyncSession, *, lead: Lead, customer_id: int | None) -> None:
    if customer_id is not None:
        await customer_service.get(session, customer_id=customer_id)
        await count_lead_for_customer(
            session, customer_id=customer_id, contact_at=lead.received_at or lead.created_at
        )
    if lead.customer_id is not None:
        await _uncount_lead_for_customer(session, customer_id=lead.customer_id)


async def _ensure_can_duplicate(session: AsyncSession, *, lead_id: int, original_id: int) -> None:
    if original_id == lead_id:
        raise Unprocessable(
            "a lead cannot be a duplicate of itself",
            details=[{"field": "body.duplicate_of_id", "message": "must name another lead"}],
        )
    await get(session, lead_id=original_id)
