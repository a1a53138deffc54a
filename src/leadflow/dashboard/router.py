"""/api/dashboard routes."""

from __future__ import annotations

from fastapi import Request, Response

from leadflow.api.deps import CacheDep
from leadflow.api.routing import make_router
from leadflow.cache import views
from leadflow.dashboard.schemas import DashboardStats

router = make_router(prefix="/dashboard", tags=["dashboard"])


@router.get("/stats", response_model=DashboardStats, responses=views.CACHED_RESPONSE_DOC)
async def dashboard_stats(request: Request, cache: CacheDep) -> Response:
    """Counts and KPIs for the dashboard, as of `generated_at` (cached; see `X-Cache`)."""
    return await views.serve_view(request, cache, views.dashboard_stats())
