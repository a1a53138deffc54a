"""Stand-ins for the cache package's HybridCache: only the `stats()` snapshot monitoring reads."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel


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
    """A stats() answer shaped like the cache package's CacheStats (model_dump())."""
    return {
        "pid": 1,
        "enabled": True,
        "memory": {
            "hits": hits,
            "misses": 1,
            "sets": 2,
            "errors": 0,
            "fallbacks": fallbacks,
            "size": 7,
            "max_items": 1000,
            "evictions": 0,
            "expirations": 0,
        },
        "redis": {
            "hits": hits * 2,
            "misses": 3,
            "sets": 4,
            "errors": 1,
            "fallbacks": 0,
            "configured": redis,
            "subscribed": redis,
            "sets_refused": 0,
            "latency": {
                "window": 3,
                "mean_ms": 1.2,
                "p50_ms": 1.1,
                "p99_ms": 2.0,
                "max_ms": 2.0,
                "count": 3,
                "seconds_total": 0.0036,
            },
        },
        "circuit": {
            "state": circuit,
            "seconds_in_state": 42.0,
            "seconds_unavailable": 0.0,
            "consecutive_failures": 0,
            "opened_total": 0,
        },
    }


class _Circuit(BaseModel):
    state: str
    seconds_in_state: float


class _Stats(BaseModel):
    memory: dict[str, Any]
    redis: dict[str, Any]
    circuit: _Circuit


class ModelCache:
    """Answers `stats()` with a Pydantic model, as the cache package's HybridCache does."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot

    def stats(self) -> BaseModel:
        return _Stats.model_validate(self.snapshot)
