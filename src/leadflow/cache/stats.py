"""What the cache counts, and the snapshot `Cache.stats()` returns.

Counters only grow for the life of the process; gauges (sizes, circuit state) are read when the
snapshot is taken. Every `serve` worker has its own cache and so its own figures.
"""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import asdict, dataclass, field

from pydantic import BaseModel, Field

from leadflow.cache.breaker import CircuitBreaker, CircuitState
from leadflow.cache.memory import MemoryTier


@dataclass(slots=True)
class TierCounters:
    hits: int = 0
    misses: int = 0
    sets: int = 0
    errors: int = 0
    fallbacks: int = 0


class LatencyRecorder:
    """Round-trip times: all-time count and sum, and the last `window` samples for percentiles."""

    def __init__(self, window: int = 2048) -> None:
        self._samples: deque[float] = deque(maxlen=window)
        self.count = 0
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self._samples.append(seconds)
        self.count += 1
        self.total += seconds

    def snapshot(self) -> LatencyStats:
        samples = sorted(self._samples)

        def pct(q: float) -> float | None:
            if not samples:
                return None
            return round(samples[min(len(samples) - 1, math.ceil(q * len(samples)) - 1)] * 1e3, 3)

        return LatencyStats(
            window=len(samples),
            mean_ms=round(sum(samples) / len(samples) * 1e3, 3) if samples else None,
            p50_ms=pct(0.50),
            p99_ms=pct(0.99),
            max_ms=round(samples[-1] * 1e3, 3) if samples else None,
            count=self.count,
            seconds_total=self.total,
        )


@dataclass(slots=True)
class Counters:
    memory: TierCounters = field(default_factory=TierCounters)
    redis: TierCounters = field(default_factory=TierCounters)
    redis_sets_refused: int = 0
    loads: int = 0
    joined: int = 0
    lock_waits: int = 0
    invalidations_local: int = 0
    invalidations_remote: int = 0
    latency: LatencyRecorder = field(default_factory=LatencyRecorder)


class TierStats(BaseModel):
    hits: int = Field(description="Reads this tier answered.")
    misses: int = Field(description="Reads this tier was asked and did not hold.")
    sets: int = Field(description="Values written to this tier.")
    errors: int = Field(description="Operations that failed or timed out (memory never fails).")
    fallbacks: int = Field(
        description="memory: reads it answered because Redis was unavailable; redis: operations "
        "that skipped or failed on Redis and were served by memory instead."
    )


class MemoryTierStats(TierStats):
    size: int = Field(description="Entries held now.")
    max_items: int
    evictions: int = Field(description="Entries pushed out by the LRU bound.")
    expirations: int = Field(description="Entries found expired and dropped.")


class LatencyStats(BaseModel):
    window: int = Field(description="Samples behind the mean and percentiles (the latest ones).")
    mean_ms: float | None
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    count: int = Field(description="Round trips measured since start.")
    seconds_total: float = Field(description="Their summed duration.")


class RedisTierStats(TierStats):
    configured: bool
    subscribed: bool = Field(
        description="Listening for other processes' invalidations (near cache in use)."
    )
    sets_refused: int = Field(
        description="Values not stored because an invalidation ran while they were loaded."
    )
    latency: LatencyStats


class CircuitStats(BaseModel):
    state: CircuitState
    seconds_in_state: float
    seconds_unavailable: float = Field(description="Since Redis was last given up; 0 if closed.")
    consecutive_failures: int
    opened_total: int


class InvalidationStats(BaseModel):
    local: int = Field(description="Invalidations made by this process.")
    remote: int = Field(description="Invalidations received from other processes.")
    pending: int = Field(description="Made while Redis was away; replayed when it returns.")


class CacheStats(BaseModel):
    pid: int
    enabled: bool = Field(description="Whether the API serves cached responses.")
    memory: MemoryTierStats
    redis: RedisTierStats
    circuit: CircuitStats
    loads: int = Field(description="Loader calls (misses computed by this process).")
    single_flight_joined: int = Field(description="Misses that waited for a load in progress.")
    lock_waits: int = Field(description="Misses that waited for another process's load.")
    invalidations: InvalidationStats


def snapshot(
    c: Counters,
    *,
    memory: MemoryTier,
    breaker: CircuitBreaker,
    enabled: bool,
    configured: bool,
    subscribed: bool,
    pending: int,
) -> CacheStats:
    """The counters with the tier sizes and the circuit state, as of now."""
    return CacheStats(
        pid=os.getpid(),
        enabled=enabled,
        memory=MemoryTierStats(
            **asdict(c.memory),
            size=len(memory),
            max_items=memory.max_items,
            evictions=memory.evictions,
            expirations=memory.expirations,
        ),
        redis=RedisTierStats(
            **asdict(c.redis),
            configured=configured,
            subscribed=subscribed,
            sets_refused=c.redis_sets_refused,
            latency=c.latency.snapshot(),
        ),
        circuit=CircuitStats(
            state=breaker.state,
            seconds_in_state=breaker.seconds_in_state(),
            seconds_unavailable=breaker.seconds_unavailable(),
            consecutive_failures=breaker.consecutive_failures,
            opened_total=breaker.opened_total,
        ),
        loads=c.loads,
        single_flight_joined=c.joined,
        lock_waits=c.lock_waits,
        invalidations=InvalidationStats(
            local=c.invalidations_local, remote=c.invalidations_remote, pending=pending
        ),
    )
