"""Customers' counters (total_leads, total_bookings, last_contact_at), recomputed from the rows.

One mechanism for every writer (API, sync, matching, jobs): lock the customer rows, then
recount. Recounting instead of adding and subtracting keeps the counters true whatever happened
before (a lead moved between customers, a thread unlinked, a crash between two writes).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import Booking, BookingStatus, Customer, EmailThread, Lead


async def refresh_counters(session: AsyncSession, customer_ids: Iterable[int | None]) -> None:
    """Recount the given customers (None entries are ignored); flush-only, the caller commits.

    The rows are locked first (FOR NO KEY UPDATE, in id order; SQLite serialises writers
    anyway), so the recount, a new statement under READ COMMITTED, sees every transaction that
    wrote for these customers before us, and a concurrent writer recounts after we commit.
    """
    ids = sorted({cid for cid in customer_ids if cid is not None})
    # Chunks in ascending id order: bounded statement size (SQLite caps bound parameters) and
    # one lock order for every writer, so two recounts never deadlock.
    for start in range(0, len(ids), _CHUNK):
        await _recount(session, [Customer.id.in_(ids[start : start + _CHUNK])])


_CHUNK = 1_000


async def _recount(session: AsyncSession, where: list[ColumnElement[bool]]) -> None:
    await session.execute(
        select(Customer.id).where(*where).order_by(Customer.id).with_for_update(key_share=True)
    )
    leads = select(func.count(Lead.id)).where(Lead.customer_id == Customer.id).scalar_subquery()
    bookings = (
        select(func.count(Booking.id))
        .where(Booking.customer_id == Customer.id, Booking.status != BookingStatus.CANCELLED)
        .scalar_subquery()
    )
    last_lead = (
        select(func.max(Lead.received_at)).where(Lead.customer_id == Customer.id).scalar_subquery()
    )
    last_thread = (
        select(func.max(EmailThread.last_message_at))
        .where(EmailThread.customer_id == Customer.id)
        .scalar_subquery()
    )
    await session.execute(
        update(Customer)
        .where(*where)
        .values(
            total_leads=leads,
            total_bookings=bookings,
            last_contact_at=func.coalesce(last_thread, last_lead),
        )
        .execution_options(synchronize_session=False)
    )
    # Both may be set; keep the later of the two (portable: SQLite has no GREATEST).
    await session.execute(
        update(Customer)
        .where(*where, last_lead > Customer.last_contact_at)
        .values(last_contact_at=last_lead)
        .execution_options(synchronize_session=False)
    )
