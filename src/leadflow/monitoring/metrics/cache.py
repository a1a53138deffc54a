"""The cache's figures in /metrics, read from `Cache.stats()` — their one source.

The cache counts in plain integers on its hot path (see `leadflow.cache.stats`); a sample copies
what each counter grew by since the previous sample into the process's Prometheus counters, and
sets the gauges. Going through the instruments, not a collector reading `stats()` at scrape
time, is what lets multiprocess mode add the workers' caches up: a scrape reaches one worker,
and only the instruments' files hold the others' figures.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter

from leadflow.cache.breaker import CircuitState
from leadflow.cache.stats import CacheStats
from leadflow.monitoring.metrics.instruments import CACHE_TIER_COUNTERS, Metrics


def _counters(m: Metrics, stats: CacheStats) -> Iterator[tuple[str, Counter, float]]:
    """(reading name, counter, cumulative value) for every cache counter exported."""
    for tier, figures in (("memory", stats.memory), ("redis", stats.redis)):
        for name in CACHE_TIER_COUNTERS:
            yield f"{name}:{tier}", m.cache_counters[name].labels(tier), getattr(figures, name)
    yield "circuit_opened", m.cache_circuit_opened, stats.circuit.opened_total
    yield "loads", m.cache_loads, stats.loads
    yield "memory_evictions", m.cache_memory_evictions, stats.memory.evictions
    for origin in ("local", "remote"):
        count = getattr(stats.invalidations, origin)
        yield f"invalidations:{origin}", m.cache_invalidations.labels(origin), count
    latency = stats.redis.latency
    yield "round_trips", m.cache_redis_round_trips, latency.count
    yield "round_trip_seconds", m.cache_redis_round_trip_seconds, latency.seconds_total


class CacheSampler:
    """Remembers the last readings of one cache, so the counters grow by the difference."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._last: dict[str, float] = {}

    def sample(self, stats: CacheStats) -> None:
        for name, counter, current in _counters(self.metrics, stats):
            previous = self._last.get(name, 0.0)
            # Smaller than before: a new cache (the app started again) counting from zero.
            step = current - previous if current >= previous else current
            if step > 0:
                counter.inc(step)
            self._last[name] = current
        for state in CircuitState:
            self.metrics.cache_circuit_state.labels(state.value).set(
                1.0 if state is stats.circuit.state else 0.0
            )
        self.metrics.cache_memory_items.set(stats.memory.size)
