"""Which lead may be marked a duplicate of which; links always point at a root.

A duplicate's original must be another lead that is open (new, contacted or quoted) when it is
named, was received earlier (equal times: the lower id is earlier) and belongs to the same
customer (or, like the duplicate, to none). An original that is itself a duplicate is replaced
by its root, so no chain and no cycle is ever stored; leads that were duplicates of a lead that
now becomes a duplicate move to the new root. A lead with duplicates cannot move to another
customer or be dated after one of them, and a duplicate cannot leave its original's customer or
be dated before it: those PATCHes are a 409 saying which link is in the way. Together these keep
the dashboard's open count (open leads that are no duplicate) right.

The caller holds the lead's row lock; originals are read FOR SHARE, so an original cannot be
closed or moved between the check and the commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.errors import Conflict, Unprocessable
from leadflow.models import OPEN_LEAD_STATUSES, Lead
from leadflow.models.locks import lock_against_change

_FIELD = "body.duplicate_of_id"


def _key(received_at: datetime | None, lead: Lead) -> tuple[datetime, int]:
    return (received_at or lead.created_at, lead.id)


async def check_duplicate_links(session: AsyncSession, lead: Lead, changes: dict[str, Any]) -> None:
    """Check the links a PATCH of `lead` leaves; store a root in `changes["duplicate_of_id"]`."""
    customer_id = changes.get("customer_id", lead.customer_id)
    received_at = changes.get("received_at", lead.received_at)
    moved = customer_id != lead.customer_id
    redated = received_at != lead.received_at
    if moved or redated:
        await _check_dependents(session, lead, moved=moved, received_at=received_at)
    new_original = changes.get("duplicate_of_id")
    if new_original is not None:
        root = await _root_of(session, lead, new_original)
        _check_original(lead, root, customer_id, received_at)
        if root.status not in OPEN_LEAD_STATUSES:
            raise _refused(lead, root, f"lead {root.id} is {root.status.value}, not open")
        changes["duplicate_of_id"] = root.id
        await session.execute(
            update(Lead).where(Lead.duplicate_of_id == lead.id).values(duplicate_of_id=root.id)
        )
    elif (
        "duplicate_of_id" not in changes and lead.duplicate_of_id is not None and (moved or redated)
    ):
        original = await lock_against_change(session, Lead, lead.duplicate_of_id)
        if original is not None:
            _check_original(lead, original, customer_id, received_at)


async def _root_of(session: AsyncSession, lead: Lead, original_id: int) -> Lead:
    if original_id == lead.id:
        raise Unprocessable(
            "a lead cannot be a duplicate of itself",
            details=[{"field": _FIELD, "message": "must name another lead"}],
        )
    current = await lock_against_change(session, Lead, original_id)
    if current is None:
        raise Unprocessable(
            f"lead {original_id} not found",
            details=[{"field": _FIELD, "message": f"no lead with id {original_id}"}],
        )
    seen = {current.id}
    while current.duplicate_of_id is not None:
        if current.duplicate_of_id == lead.id or current.duplicate_of_id in seen:
            raise _refused(
                lead, current, f"lead {original_id} is itself a duplicate of lead {lead.id}"
            )
        parent = await lock_against_change(session, Lead, current.duplicate_of_id)
        if parent is None:
            break
        seen.add(parent.id)
        current = parent
    return current


def _check_original(
    lead: Lead, original: Lead, customer_id: int | None, received_at: datetime | None
) -> None:
    if original.customer_id != customer_id:
        raise _refused(
            lead,
            original,
            f"lead {original.id} belongs to customer {original.customer_id}, "
            f"lead {lead.id} to customer {customer_id}",
        )
    if _key(original.received_at, original) >= _key(received_at, lead):
        raise _refused(lead, original, f"lead {original.id} was not received before lead {lead.id}")


async def _check_dependents(
    session: AsyncSession, lead: Lead, *, moved: bool, received_at: datetime | None
) -> None:
    stmt = select(Lead.id).where(Lead.duplicate_of_id == lead.id).order_by(Lead.id)
    if not moved:
        # Only duplicates that would no longer be later than the lead are in the way.
        moment = received_at or lead.created_at
        stmt = stmt.where(
            or_(
                Lead.received_at < moment,
                and_(Lead.received_at == moment, Lead.id < lead.id),
            )
        )
    blocking = list((await session.execute(stmt.limit(20))).scalars())
    if not blocking:
        return
    what = "moved to another customer" if moved else "dated after its duplicates"
    raise Conflict(
        f"lead {lead.id} cannot be {what}: lead(s) {', '.join(map(str, blocking))} are marked "
        f"as duplicates of it; clear their duplicate_of_id first",
        details={"lead_id": lead.id, "duplicates": blocking},
    )


def _refused(lead: Lead, original: Lead, reason: str) -> Conflict:
    return Conflict(
        f"lead {lead.id} cannot be a duplicate of lead {original.id}: {reason}; only an open, "
        "earlier lead of the same customer can be the original",
        details={"lead_id": lead.id, "duplicate_of_id": original.id, "reason": reason},
    )
