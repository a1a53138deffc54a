"""The customer 360 view: the customer with their latest threads, leads and bookings.

Built from the domain services' own queries (the first rows of each, with their total in the
same statement), read in one session. Bookings come in two lists: upcoming (active and not yet
ended, soonest first) and recent (the latest that started before now, any status, newest
first).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, func
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.bookings import service as booking_service
from leadflow.bookings.schemas import BookingOut
from leadflow.customers import service as customer_service
from leadflow.customers.schemas import CustomerOut
from leadflow.leads import service as lead_service
from leadflow.leads.schemas import LeadOut
from leadflow.mail import service as thread_service
from leadflow.mail.schemas import ThreadOut
from leadflow.models import ACTIVE_BOOKING_STATUSES, Booking

SECTION_SIZE = 10

M = TypeVar("M", bound=BaseModel)


class OverviewSection(BaseModel, Generic[M]):
    items: list[M]
    total: int = Field(description="How many there are in all (items holds the first ones).")


class CustomerOverview(BaseModel):
    generated_at: datetime = Field(description="When this view was computed (it may be cached).")
    customer: CustomerOut
    threads: OverviewSection[ThreadOut] = Field(description="Latest activity first.")
    leads: OverviewSection[LeadOut] = Field(description="Newest received first.")
    upcoming_bookings: OverviewSection[BookingOut] = Field(
        description="Scheduled or confirmed, not yet ended; soonest first."
    )
    recent_bookings: OverviewSection[BookingOut] = Field(
        description="Started before now, any status; newest first."
    )


async def _section(session: AsyncSession, stmt: Select[Any], model: type[M]) -> OverviewSection[M]:
    """The first SECTION_SIZE rows and how many there are, in one statement: a window count
    over one customer's rows (a list's page, estimate and count were up to three)."""
    counted = stmt.add_columns(func.count().over().label("section_total")).limit(SECTION_SIZE)
    rows = (await session.execute(counted)).all()
    return OverviewSection[model](  # type: ignore[valid-type]
        items=[model.model_validate(row[0]) for row in rows],
        total=int(rows[0].section_total) if rows else 0,
    )


async def customer_overview(
    session: AsyncSession, *, customer_id: int, now: datetime
) -> CustomerOverview:
    """The 360 view of one customer as of `now`; NotFound for an unknown id."""
    customer = await customer_service.get(session, customer_id=customer_id)
    upcoming = booking_service.list_query(
        customer_id=customer_id, ends_after=now, statuses=ACTIVE_BOOKING_STATUSES
    )
    recent = (
        booking_service.list_query(customer_id=customer_id, starts_before=now)
        .order_by(None)
        .order_by(Booking.start_time.desc(), Booking.id.desc())
    )
    return CustomerOverview(
        generated_at=now,
        customer=CustomerOut.model_validate(customer),
        threads=await _section(
            session, thread_service.list_query(customer_id=customer_id), ThreadOut
        ),
        leads=await _section(session, lead_service.list_query(customer_id=customer_id), LeadOut),
        upcoming_bookings=await _section(session, upcoming, BookingOut),
        recent_bookings=await _section(session, recent, BookingOut),
    )
