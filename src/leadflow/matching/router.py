"""/api/matching/stats, /api/threads/rematch and /api/threads/{thread_id}/suggestions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Request, Response

from leadflow.api.bounds import PathId
from leadflow.api.deps import CacheDep, SessionDep, SettingsDep
from leadflow.api.routing import make_router
from leadflow.cache import views
from leadflow.customers.schemas import CustomerOut
from leadflow.mail import service as thread_service
from leadflow.matching import service
from leadflow.matching.schemas import (
    MatchingStats,
    MatchReport,
    RematchRequest,
    SuggestedCustomer,
)
from leadflow.matching.suggestion_service import suggest_customers

router = make_router(prefix="/matching", tags=["matching"])
threads_rematch_router = make_router(prefix="/threads", tags=["threads"])


@router.get("/stats", response_model=MatchingStats, responses=views.CACHED_RESPONSE_DOC)
async def get_matching_stats(request: Request, cache: CacheDep) -> Response:
    """Totals, matched per rule, unmatched and match rate over every thread (cached; see
    `X-Cache`: an aggregate over every thread, dropped whenever a thread changes)."""
    return await views.serve_view(request, cache, views.matching_stats())


@threads_rematch_router.post("/rematch", response_model=MatchReport)
async def rematch_threads(
    session: SessionDep,
    settings: SettingsDep,
    body: Annotated[RematchRequest | None, Body()] = None,
) -> MatchReport:
    """Re-run the matching rules: unmatched threads, or with `all` every automatic match too."""
    request = body or RematchRequest()
    return await service.match_threads(
        session,
        settings=settings,
        thread_ids=request.thread_ids,
        only_unmatched=not request.all,
    )


@threads_rematch_router.get("/{thread_id}/suggestions", response_model=list[SuggestedCustomer])
async def thread_suggestions(
    session: SessionDep, settings: SettingsDep, thread_id: PathId
) -> list[SuggestedCustomer]:
    """Customers that came close to matching the thread, best first (at most 5): every rule's
    candidates (also when a rule found several), the same mailbox name at another domain, and
    a customer with the sender's name. The thread's own customer is never among them."""
    thread = await thread_service.get(session, thread_id=thread_id)
    found = await suggest_customers(session, threads=[thread], settings=settings)
    return [
        SuggestedCustomer(
            customer=CustomerOut.model_validate(found.customers[s.customer_id]),
            score=s.score,
            reasons=list(s.reasons),
        )
        for s in found.by_thread.get(thread.id, [])
    ]
