"""/api/customers routes; sub-lists (threads, leads, bookings) live in their own domains."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response, status

from leadflow.api.bounds import PathId, QueryText
from leadflow.api.deps import CacheDep, SessionDep
from leadflow.api.page_json import page_response
from leadflow.api.pagination import Page, PageDep
from leadflow.api.routing import make_router
from leadflow.cache import views
from leadflow.customers import service
from leadflow.customers.overview import CustomerOverview
from leadflow.customers.schemas import (
    CUSTOMER_FIELDS,
    CustomerCreate,
    CustomerOut,
    CustomerSort,
    CustomerUpdate,
)

router = make_router(prefix="/customers", tags=["customers"])


@router.get("", response_model=Page[CustomerOut], responses=views.CACHED_RESPONSE_DOC)
async def list_customers(
    request: Request,
    cache: CacheDep,
    page: PageDep,
    q: Annotated[
        QueryText | None,
        Query(
            max_length=200,
            description="Search name/email/phone; case-insensitive for every letter (Ø = ø).",
        ),
    ] = None,
    sort: Annotated[
        CustomerSort,
        Query(
            description="Prefix `-` for descending. Customers without the value (no name, "
            "never contacted) come last in either direction."
        ),
    ] = CustomerSort.NAME,
) -> Response:
    """Customers; the first page with no search and the default sort is cached."""
    if page.is_first_default and q is None and sort is CustomerSort.NAME:
        return await views.serve_view(request, cache, views.first_page("customers"))
    stmt = service.list_query(search=q, sort=sort)
    return await page_response(request, stmt, CUSTOMER_FIELDS, page)


@router.post("", response_model=CustomerOut, status_code=status.HTTP_201_CREATED)
async def create_customer(session: SessionDep, body: CustomerCreate) -> CustomerOut:
    customer = await service.create(session, data=body)
    await session.refresh(customer)
    return CustomerOut.model_validate(customer)


@router.get(
    "/{customer_id}/overview",
    response_model=CustomerOverview,
    responses=views.CACHED_RESPONSE_DOC,
)
async def customer_overview(request: Request, cache: CacheDep, customer_id: PathId) -> Response:
    """The customer 360 view: the customer, latest threads and leads, upcoming and recent
    bookings (cached; see `X-Cache`)."""
    return await views.serve_view(request, cache, views.customer_360(customer_id))


@router.get("/{customer_id}", response_model=CustomerOut)
async def get_customer(session: SessionDep, customer_id: PathId) -> CustomerOut:
    return CustomerOut.model_validate(await service.get(session, customer_id=customer_id))


@router.patch("/{customer_id}", response_model=CustomerOut)
async def update_customer(
    session: SessionDep, customer_id: PathId, body: CustomerUpdate
) -> CustomerOut:
    """Change the fields sent. `null` clears a field; on `status` or `tags` it is a 422."""
    customer = await service.update_customer(session, customer_id=customer_id, data=body)
    return CustomerOut.model_validate(customer)


@router.delete("/{customer_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_customer(
    session: SessionDep,
    customer_id: PathId,
    force: Annotated[bool, Query(description="Also delete the customer's bookings.")] = False,
) -> Response:
    """Delete a customer. Its leads and email threads are kept and detached (customer_id
    null; the threads become unmatched). While it has bookings (any status) the delete is a 409
    naming their count, unless `force=true`, which deletes those bookings too. A booking made
    at the same moment is either counted (409) or refused with 422 (customer gone)."""
    await service.delete_customer(session, customer_id=customer_id, force=force)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
