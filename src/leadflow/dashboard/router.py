"""/api/dashboard routes."""

from __future__ import annotations

from leadflow.api.routing import make_router

router = make_router(prefix="/dashboard", tags=["dashboard"])
