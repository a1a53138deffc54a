"""/api/matching/stats and /api/threads/rematch."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body

from leadflow.api.deps import SessionDep, SettingsDep
from leadflow.api.routing import make_router
from leadflow.matching import service
from leadflow.matching.schemas import MatchingStats, MatchReport, RematchRequest

router = make_router(prefix="/matching", tags=["matching"])
threads_rematch_router = make_router(prefix="/threads", tags=["threads"])


@router.get("/stats", response_model=MatchingStats)
async def get_matching_stats(session: SessionDep) -> MatchingStats:
    """Totals, matched per rule, unmatched and match rate over every thread."""
    return await service.matching_stats(session)


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
