"""/api/threads routes, and /api/customers/{customer_id}/threads."""

from __future__ import annotations

from fastapi import Request, Response

from leadflow.api.bounds import PathId, QueryId
from leadflow.api.deps import CacheDep, SessionDep
from leadflow.api.page_json import page_response
from leadflow.api.pagination import Page, PageDep
from leadflow.api.routing import make_router
from leadflow.cache import views
from leadflow.customers import service as customer_service
from leadflow.mail import service as thread_service
from leadflow.mail.schemas import (
    THREAD_FIELDS,
    MessageOut,
    ThreadDetail,
    ThreadLink,
    ThreadOut,
)

router = make_router(prefix="/threads", tags=["threads"])
customer_threads_router = make_router(prefix="/customers", tags=["customers"])


@router.get("", response_model=Page[ThreadOut], responses=views.CACHED_RESPONSE_DOC)
async def list_threads(
    request: Request,
    cache: CacheDep,
    page: PageDep,
    matched: bool | None = None,
    customer_id: QueryId = None,
) -> Response:
    """Threads, latest activity first; the first page without filters is cached."""
    if page.is_first_default and matched is None and customer_id is None:
        return await views.serve_view(request, cache, views.first_page("threads"))
    stmt = thread_service.list_query(matched=matched, customer_id=customer_id)
    return await page_response(request, stmt, THREAD_FIELDS, page)


@router.get("/{thread_id}", response_model=ThreadDetail)
async def get_thread(session: SessionDep, thread_id: PathId) -> ThreadDetail:
    thread = await thread_service.get(session, thread_id=thread_id)
    messages = await thread_service.messages_of(session, thread_id=thread_id)
    return ThreadDetail(
        **ThreadOut.model_validate(thread).model_dump(),
        messages=[MessageOut.model_validate(message) for message in messages],
    )


@router.post("/{thread_id}/link", response_model=ThreadOut)
async def link_thread(session: SessionDep, thread_id: PathId, body: ThreadLink) -> ThreadOut:
    """Link the thread to a customer by hand (automatic matching leaves it); an unknown
    customer is a 422. Both customers' counters and last contact are recounted."""
    thread = await thread_service.link(session, thread_id=thread_id, customer_id=body.customer_id)
    return ThreadOut.model_validate(thread)


@router.delete("/{thread_id}/link", response_model=ThreadOut)
async def unlink_thread(session: SessionDep, thread_id: PathId) -> ThreadOut:
    """Detach the thread from its customer; recorded as a manual decision."""
    return ThreadOut.model_validate(await thread_service.unlink(session, thread_id=thread_id))


@customer_threads_router.get("/{customer_id}/threads", response_model=Page[ThreadOut])
async def list_customer_threads(request: Request, page: PageDep, customer_id: PathId) -> Response:
    """One customer's threads, latest activity first (404 for an unknown customer)."""
    stmt = thread_service.list_query(customer_id=customer_id)
    parent = customer_service.as_parent(customer_id)
    return await page_response(request, stmt, THREAD_FIELDS, page, parent=parent)
