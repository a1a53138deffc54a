"""/api/bookings routes and the /api/customers/{id}/bookings sub-list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query, Request, Response, status

from leadflow.api.bounds import Instant, PathId, QueryId, QueryText
from leadflow.api.deps import CacheDep, SessionDep
from leadflow.api.page_json import Parent, page_response
from leadflow.api.pagination import Page, PageDep, PageParams
from leadflow.api.routing import make_router
from leadflow.bookings import service
from leadflow.bookings.schemas import BOOKING_FIELDS, BookingCreate, BookingOut, BookingUpdate
from leadflow.cache import views
from leadflow.customers import service as customer_service
from leadflow.errors import Unprocessable
from leadflow.models import BookingStatus

router = make_router(prefix="/bookings", tags=["bookings"])
customer_bookings_router = make_router(prefix="/customers", tags=["customers"])

FromQuery = Annotated[
    Instant | None,
    Query(alias="from", description="Keep bookings ending after this time (with timezone)."),
]
ToQuery = Annotated[
    Instant | None,
    Query(alias="to", description="Keep bookings starting before this time (with timezone)."),
]
StatusQuery = Annotated[
    list[BookingStatus] | None, Query(description="Status filter; repeat for several.")
]
TeamQuery = Annotated[QueryText | None, Query(max_length=100, description="Case-insensitive.")]


def _check_range(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise Unprocessable(
            "'to' must be after 'from'",
            details=[{"field": "query.to", "message": "must be after 'from'"}],
        )


async def _page(
    request: Request,
    page: PageParams,
    *,
    start: datetime | None,
    end: datetime | None,
    customer_id: int | None,
    statuses: list[BookingStatus] | None,
    team: str | None,
    parent: Parent | None = None,
) -> Response:
    _check_range(start, end)
    stmt = service.list_query(
        ends_after=start,
        starts_before=end,
        customer_id=customer_id,
        statuses=statuses or (),
        team=team,
    )
    return await page_response(request, stmt, BOOKING_FIELDS, page, parent=parent)


@router.get("", response_model=Page[BookingOut], responses=views.CACHED_RESPONSE_DOC)
async def list_bookings(
    request: Request,
    cache: CacheDep,
    page: PageDep,
    start: FromQuery = None,
    end: ToQuery = None,
    customer_id: QueryId = None,
    status: StatusQuery = None,
    team: TeamQuery = None,
) -> Response:
    """Bookings overlapping [from, to), by start time; the first page without filters is cached."""
    unfiltered = start is None and end is None and customer_id is None
    if page.is_first_default and unfiltered and not status and team is None:
        return await views.serve_view(request, cache, views.first_page("bookings"))
    return await _page(
        request,
        page,
        start=start,
        end=end,
        customer_id=customer_id,
        statuses=status,
        team=team,
    )


@router.post("", response_model=BookingOut, status_code=status.HTTP_201_CREATED)
async def create_booking(session: SessionDep, body: BookingCreate) -> BookingOut:
    """Create a booking; 409 naming the booking it would overlap (team names compare
    case-insensitively); 422 naming the field for an unknown customer or lead, or a lead of
    another customer."""
    return BookingOut.model_validate(await service.create(session, data=body))


@router.get("/{booking_id}", response_model=BookingOut)
async def get_booking(session: SessionDep, booking_id: PathId) -> BookingOut:
    return BookingOut.model_validate(await service.get(session, booking_id=booking_id))


@router.patch("/{booking_id}", response_model=BookingOut)
async def update_booking(
    session: SessionDep, booking_id: PathId, body: BookingUpdate
) -> BookingOut:
    """Change or reschedule a booking; 409 on overlap or a disallowed status change.

    `null` clears `lead_id`, `service_type`, `address` or `notes`; on `team`, `start_time`,
    `end_time` or `status` it is a 422."""
    booking = await service.update_booking(session, booking_id=booking_id, data=body)
    return BookingOut.model_validate(booking)


@router.post("/{booking_id}/cancel", response_model=BookingOut)
async def cancel_booking(session: SessionDep, booking_id: PathId) -> BookingOut:
    """Cancel a booking (idempotent: a cancelled booking stays as it is); frees its slot."""
    return BookingOut.model_validate(await service.cancel(session, booking_id=booking_id))


@customer_bookings_router.get("/{customer_id}/bookings", response_model=Page[BookingOut])
async def list_customer_bookings(
    request: Request,
    page: PageDep,
    customer_id: PathId,
    start: FromQuery = None,
    end: ToQuery = None,
    status: StatusQuery = None,
    team: TeamQuery = None,
) -> Response:
    """One customer's bookings, by start time (404 for an unknown customer)."""
    return await _page(
        request,
        page,
        start=start,
        end=end,
        customer_id=customer_id,
        statuses=status,
        team=team,
        parent=customer_service.as_parent(customer_id),
    )
