"""Inbox (/dashboard/inbox): unmatched threads with suggested customers; a thread's page; link
and unlink.

The list is the query of `GET /api/threads?matched=false` (`mail.service.list_query`), newest
activity first. Suggestions are the matching rules' near misses
(`matching.suggestion_service.suggest_customers`, also served at
`GET /api/threads/{id}/suggestions`). Linking and unlinking are CSRF-checked form POSTs to
`mail.service.link` / `unlink` — the services behind `POST/DELETE /api/threads/{id}/link` — so
the row lock, the manual decision and both customers' counters are the API's own.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadflow.api.deps import SessionDep
from leadflow.api.pagination import PageParams, fetch_page
from leadflow.customers import service as customer_service
from leadflow.customers.schemas import CustomerOut
from leadflow.dashboard.web import labels
from leadflow.dashboard.web.deps import CsrfForm, page_router
from leadflow.dashboard.web.forms import PathId, local_target, page_number, row_id, text
from leadflow.dashboard.web.labels import N_
from leadflow.dashboard.web.pages.customers import find_customers, search_text
from leadflow.dashboard.web.templating import render
from leadflow.errors import Unprocessable
from leadflow.mail import service as thread_service
from leadflow.mail.schemas import MessageOut, ThreadOut
from leadflow.matching.suggestion_service import ThreadSuggestions, suggest_customers
from leadflow.models import Customer, EmailThread
from leadflow.settings import Settings

router = page_router()
PAGE_SIZE = 20
SEARCH_RESULTS = 10

# Why a customer is suggested, by rule or near-miss kind.
REASONS = {
    "lead": N_("named in the lead email"),
    "exact_email": N_("same email address"),
    "reply_chain": N_("replies to their mail"),
    "phone": N_("their phone number is in the mail"),
    "domain": N_("same company domain"),
    "same_local_part": N_("same mailbox name at another domain"),
    "same_name": N_("same name as the sender"),
}


def _suggested(suggestions: ThreadSuggestions) -> dict[int, CustomerOut]:
    return {cid: CustomerOut.model_validate(c) for cid, c in suggestions.customers.items()}


@router.get("/inbox", name="dashboard.inbox")
async def inbox(request: Request, session: SessionDep) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    page = page_number(request.query_params.get("page"))
    rows, total = await fetch_page(
        session,
        thread_service.list_query(matched=False),
        PageParams(limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE),
    )
    suggestions = await suggest_customers(session, threads=rows, settings=settings)
    return render(
        request,
        "inbox.html",
        {
            "threads": [ThreadOut.model_validate(row) for row in rows],
            "total": total,
            "page_number": page,
            "first": (page - 1) * PAGE_SIZE + 1,
            "suggestions": suggestions.by_thread,
            "customers": _suggested(suggestions),
            "reasons": REASONS,
            "notice": await _notice(request, session),
        },
        page="dashboard.inbox",
    )


async def _notice(request: Request, session: SessionDep) -> dict[str, object] | None:
    """What the last link/unlink did, for the page it came back to (`?linked=` / `?unlinked=`)."""
    for kind in ("linked", "unlinked"):
        raw = request.query_params.get(kind)
        if raw and raw.isdigit():
            thread = await session.get(EmailThread, int(raw))
            if thread is None:
                return None
            customer = (
                await session.get(Customer, thread.customer_id)
                if thread.customer_id is not None
                else None
            )
            return {"kind": kind, "thread": thread, "customer": customer}
    return None


@router.get("/threads/{thread_id}", name="dashboard.thread")
async def thread_detail(request: Request, session: SessionDep, thread_id: PathId) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    thread = await thread_service.get(session, thread_id=thread_id)
    messages = await thread_service.messages_of(session, thread_id=thread_id)
    customer = (
        await customer_service.get(session, customer_id=thread.customer_id)
        if thread.customer_id is not None
        else None
    )
    suggestions = await suggest_customers(session, threads=[thread], settings=settings)
    q = search_text(request.query_params)
    results = await find_customers(session, q, limit=SEARCH_RESULTS)
    return render(
        request,
        "thread.html",
        {
            "thread": ThreadOut.model_validate(thread),
            "messages": [MessageOut.model_validate(m) for m in messages],
            "customer": CustomerOut.model_validate(customer) if customer else None,
            "suggestions": suggestions.by_thread.get(thread.id, []),
            "customers": _suggested(suggestions),
            "reasons": REASONS,
            "q": q,
            "results": results,
            "notice": await _notice(request, session),
            "labels": labels,
        },
        page="dashboard.inbox",
    )


def _back(request: Request, form_next: object, thread_id: int, kind: str) -> RedirectResponse:
    default = str(request.app.url_path_for("dashboard.thread", thread_id=str(thread_id)))
    target = local_target(form_next, default).split("?", 1)[0].split("#", 1)[0]
    return RedirectResponse(f"{target}?{kind}={thread_id}", status_code=303)


@router.post("/threads/{thread_id}/link", name="dashboard.thread_link")
async def link(
    request: Request, session: SessionDep, form: CsrfForm, thread_id: PathId
) -> Response:
    customer_id = row_id(text(form, "customer_id"))
    if customer_id is None:
        raise Unprocessable(
            "choose a customer to link the thread to",
            details=[{"field": "customer_id", "message": "not a customer id"}],
        )
    await thread_service.link(session, thread_id=thread_id, customer_id=customer_id)
    return _back(request, form.get("next"), thread_id, "linked")


@router.post("/threads/{thread_id}/unlink", name="dashboard.thread_unlink")
async def unlink(
    request: Request, session: SessionDep, form: CsrfForm, thread_id: PathId
) -> Response:
    await thread_service.unlink(session, thread_id=thread_id)
    return _back(request, form.get("next"), thread_id, "unlinked")
