"""/api/cache/stats: the answering process's cache counters, tier sizes and circuit state."""

from __future__ import annotations

from fastapi import Request

from leadflow.api.routing import make_router
from leadflow.cache.hybrid import Cache
from leadflow.cache.stats import CacheStats

router = make_router(prefix="/cache", tags=["cache"])


@router.get("/stats", response_model=CacheStats)
async def cache_stats(request: Request) -> CacheStats:
    """Hits, misses, sets, errors and fallbacks per tier; circuit state; Redis latency.

    Each `serve` worker process has its own cache: `pid` says which one answered.
    """
    cache: Cache = request.app.state.cache
    return cache.stats()
