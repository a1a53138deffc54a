"""/api/leads routes, and /api/customers/{customer_id}/leads."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response, status

from leadflow.api.bounds import Instant, PathId, QueryText
from leadflow.api.deps import CacheDep, SessionDep
from leadflow.api.page_json import page_response
from leadflow.api.pagination import Page, PageDep
from leadflow.api.routing import make_router
from leadflow.cache import views
from leadflow.customers import service as customer_service
from leadflow.leads import service
from leadflow.leads.schemas import LEAD_FIELDS, LeadCreate, LeadOut, LeadUpdate
from leadflow.models import LeadStatus

router = make_router(prefix="/leads", tags=["leads"])
customer_leads_router = make_router(prefix="/customers", tags=["customers"])


@router.get("", response_model=Page[LeadOut], responses=views.CACHED_RESPONSE_DOC)
async def list_leads(
    request: Request,
    cache: CacheDep,
    page: PageDep,
    lead_status: Annotated[
        list[LeadStatus] | None,
        Query(alias="status", description="Repeat to match any of several statuses."),
    ] = None,
    source: Annotated[QueryText | None, Query(max_length=50)] = None,
    received_from: Annotated[
        Instant | None, Query(description="Received at or after (ISO 8601 with offset).")
    ] = None,
    received_to: Annotated[
        Instant | None, Query(description="Received before (ISO 8601 with offset).")
    ] = None,
    needs_review: bool | None = None,
    awaiting_reply: Annotated[
        bool | None,
        Query(
            description="true: only new leads nobody has answered yet, oldest first (the order "
            "to answer them in); false: every other lead."
        ),
    ] = None,
) -> Response:
    """Leads, newest received first (`awaiting_reply=true`: oldest first); the first page
    without filters is cached."""
    unfiltered = (
        not lead_status and source is None and needs_review is None and awaiting_reply is None
    )
    if page.is_first_default and unfiltered and received_from is None and received_to is None:
        return await views.serve_view(request, cache, views.first_page("leads"))
    stmt = service.list_query(
        statuses=lead_status or (),
        source=source,
        received_from=received_from,
        received_to=received_to,
        needs_review=needs_review,
        awaiting_reply=awaiting_reply,
    )
    return await page_response(request, stmt, LEAD_FIELDS, page)


@router.post("", response_model=LeadOut, status_code=status.HTTP_201_CREATED)
async def create_lead(session: SessionDep, body: LeadCreate) -> LeadOut:
    """Create a lead. With `customer_id` it goes on that customer (unknown: 422 naming the
    field); without one, a lead with an email goes on the customer with that email, created
    when there is none (as for leads from mail)."""
    lead = await service.create(session, data=body)
    await session.refresh(lead)
    return LeadOut.model_validate(lead)


@router.get("/{lead_id}", response_model=LeadOut)
async def get_lead(session: SessionDep, lead_id: PathId) -> LeadOut:
    return LeadOut.model_validate(await service.get(session, lead_id=lead_id))


@router.patch("/{lead_id}", response_model=LeadOut)
async def update_lead(session: SessionDep, lead_id: PathId, body: LeadUpdate) -> LeadOut:
    """Change the fields sent, from the lead's current state (concurrent edits queue up).

    - `null` clears a field; on `source`, `status`, `needs_review`, `received_at` it is a 422.
    - `status` follows the transitions (409 naming the allowed ones); `won` is final.
    - `customer_id`: an unknown customer is a 422. Moving a lead to another customer moves the
      bookings made for it too; `null` detaches the lead and leaves its bookings where they are.
    - `duplicate_of_id`: only an open, earlier lead of the same customer (or, like this lead,
      of none) can be the original, else 409; an original that is itself a duplicate is
      replaced by its root, and leads that were duplicates of this one move to that root. A
      lead with duplicates cannot move to another customer or be dated after them (409).
    """
    return LeadOut.model_validate(await service.update_lead(session, lead_id=lead_id, data=body))


@customer_leads_router.get("/{customer_id}/leads", response_model=Page[LeadOut])
async def list_customer_leads(request: Request, page: PageDep, customer_id: PathId) -> Response:
    """One customer's leads, newest received first (404 for an unknown customer)."""
    stmt = service.list_query(customer_id=customer_id)
    parent = customer_service.as_parent(customer_id)
    return await page_response(request, stmt, LEAD_FIELDS, page, parent=parent)
