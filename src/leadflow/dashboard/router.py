"""/api/dashboard routes."""

from __future__ import annotations

from leadflow.api.deps import SessionDep, SettingsDep
from leadflow.api.routing import make_router
from leadflow.dashboard import service
from leadflow.dashboard.schemas import DashboardStats
from leadflow.models import utcnow

router = make_router(prefix="/dashboard", tags=["dashboard"])


@router.get("/stats", response_model=DashboardStats)
async def dashboard_stats(session: SessionDep, settings: SettingsDep) -> DashboardStats:
    """Counts and KPIs for the dashboard, as of now."""
    return await service.compute_stats(session, now=utcnow(), timezone=settings.timezone)
