"""Stand-ins for the cache package's HybridCache: only the `stats()` snapshot monitoring reads."""

from __future__ import annotations

import asyncio
from typing import Any


class SnapshotCache:
    """Answers `stats()` with whatever mapping the test sets."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot

    def stats(self) -> dict[str, Any]:
        return self.snapshot


class HangingCache:
    """A cache whose stats never come back (its Redis stopped answering)."""

    async def stats(self) -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def snapshot(
    *, redis: bool = True, circuit: str = "closed", hits: int = 0, fallbacks: int = 0
) -> dict[str, Any]:
    return {
        "redis_configured": redis,
        "circuit": {"state": circuit, "seconds_in_state": 42.0},
        "tiers": {
            "memory": {"hits": hits, "misses": 1, "sets": 2, "errors": 0, "fallbacks": fallbacks},
            "redis": {"hits": hits * 2, "misses": 3, "sets": 4, "errors": 1, "fallbacks": 0},
        },
        "redis_latency_seconds": 0.0012,
        "memory_entries": 7,
    }
