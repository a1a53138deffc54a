"""What monitoring reads from the cache: a `stats()` snapshot, behind a small Protocol.

The cache (`app.state.cache`, a HybridCache of Redis over memory) is owned by the cache
package; monitoring only reads it. `stats()` (plain or awaitable) returns a mapping or a
Pydantic model (read through `model_dump()`) shaped like the cache package's `CacheStats`:

    {
      "memory": {"hits", "misses", "sets", "errors", "fallbacks", "size", ...},
      "redis": {"hits", ..., "configured": bool, "latency": {"mean_ms", "p50_ms", ...}},
      "circuit": {"state": "closed" | "open" | "half_open", "seconds_in_state": float, ...},
    }

Missing keys read as zero/unknown, so a smaller cache still reports what it has. The cache is
"on fallback" when Redis is configured but its circuit is not closed.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

COUNTERS = ("hits", "misses", "sets", "errors", "fallbacks")
CIRCUIT_STATES = ("closed", "open", "half_open")


class CacheStatsSource(Protocol):
    """Anything with a `stats()` snapshot in the shape above."""

    def stats(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class CacheSnapshot:
    redis_configured: bool
    circuit_state: str
    seconds_in_state: float
    tiers: dict[str, dict[str, int]] = field(default_factory=dict)
    redis_latency_seconds: float | None = None
    memory_entries: int | None = None

    @property
    def on_fallback(self) -> bool:
        return self.redis_configured and self.circuit_state != "closed"


def _number(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def parse_snapshot(raw: Mapping[str, Any]) -> CacheSnapshot:
    """Read a `stats()` mapping tolerantly (unknown circuit states count as open)."""
    circuit = _mapping(raw.get("circuit"))
    state = str(getattr(circuit.get("state"), "value", circuit.get("state", "closed")))
    state = state.lower().replace("-", "_")
    if state not in CIRCUIT_STATES:
        state = "open"
    tiers: dict[str, dict[str, int]] = {}
    for tier in ("memory", "redis"):
        counts = _mapping(raw.get(tier))
        if counts:
            tiers[tier] = {name: int(_number(counts.get(name))) for name in COUNTERS}
    redis = _mapping(raw.get("redis"))
    latency = _mapping(redis.get("latency"))
    mean_ms = latency.get("mean_ms")
    size = _mapping(raw.get("memory")).get("size")
    return CacheSnapshot(
        redis_configured=bool(redis.get("configured", False)),
        circuit_state=state,
        seconds_in_state=_number(circuit.get("seconds_in_state")),
        tiers=tiers,
        redis_latency_seconds=_number(mean_ms) / 1000 if mean_ms is not None else None,
        memory_entries=int(_number(size)) if size is not None else None,
    )


async def read_snapshot(cache: CacheStatsSource) -> CacheSnapshot:
    """Call `cache.stats()` (awaiting it if it is a coroutine) and parse the result."""
    raw = cache.stats()
    if inspect.isawaitable(raw):
        raw = await raw
    dump = getattr(raw, "model_dump", None)
    if callable(dump):
        raw = dump()
    if not isinstance(raw, Mapping):
        raise TypeError(f"cache.stats() returned {type(raw).__name__}, not a mapping")
    return parse_snapshot(raw)
