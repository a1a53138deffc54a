"""Lead queries and writes. The caller (request or job) owns the transaction; we only flush."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.customers import service as customer_service
from leadflow.customers.counters import refresh_counters
from leadflow.errors import Conflict, NotFound, Unprocessable
from leadflow.leads.schemas import LeadCreate, LeadUpdate
from leadflow.leads.transitions import allowed_targets, can_transition
from leadflow.models import Lead, LeadStatus, utcnow


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
    session.add(lead)
    await session.flush()
    await refresh_counters(session, [lead.customer_id])
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
    moved_from: int | None = None
    if "customer_id" in changes and changes["customer_id"] != lead.customer_id:
        if changes["customer_id"] is not None:
            await customer_service.get(session, customer_id=changes["customer_id"])
        moved_from = lead.customer_id
    for field, value in changes.items():
        setattr(lead, field, value)
    # `leads rescan` never overwrites a field a person set; status is workflow, not lead data.
    lead.edited_fields = sorted({*lead.edited_fields, *changes} - {"status"})
    await session.flush()
    # A new customer or a new received_at moves counters; recounting both sides is cheap.
    await refresh_counters(session, [moved_from, lead.customer_id])
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


async def _ensure_can_duplicate(session: AsyncSession, *, lead_id: int, original_id: int) -> None:
    if original_id == lead_id:
        raise Unprocessable(
            "a lead cannot be a duplicate of itself",
            details=[{"field": "body.duplicate_of_id", "message": "must name another lead"}],
        )
    await get(session, lead_id=original_id)
