"""Copy readings that live elsewhere (cache stats, pool, /proc) into the instruments.

A scrape samples the answering process first. In multiprocess mode the other workers sample
after a request when their last sample is older than `min_interval`, so their figures are at
most that old (or from their last request, for an idle worker).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import ProcessCollector

from leadflow.monitoring.cache_stats import CIRCUIT_STATES, COUNTERS, read_snapshot
from leadflow.monitoring.metrics.instruments import Metrics

log = logging.getLogger(__name__)

CACHE_STATS_TIMEOUT = 0.5


class Sampler:
    """Per app: remembers the last cumulative readings so counters grow by the difference."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        min_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.min_interval = min_interval
        self._clock = clock
        self._last_sample: float | None = None
        self._last_cache: dict[tuple[str, str], int] = {}
        self._last_cpu = 0.0
        self._process = ProcessCollector(registry=None)

    def due(self) -> bool:
        last = self._last_sample
        return last is None or self._clock() - last >= self.min_interval

    async def sample(self, state: Any) -> None:
        """Read the cache (if any), the engine's pool and the process into the instruments."""
        self._last_sample = self._clock()
        cache = getattr(state, "cache", None)
        if cache is not None:
            try:
                await asyncio.wait_for(self._sample_cache(cache), timeout=CACHE_STATS_TIMEOUT)
            except Exception as exc:
                log.warning("cache stats unavailable for metrics: %s", type(exc).__name__)
        engine = getattr(state, "engine", None)
        if engine is not None:
            self._sample_pool(engine.pool)
        self._sample_process()

    async def _sample_cache(self, cache: Any) -> None:
        snapshot = await read_snapshot(cache)
        m = self.metrics
        for tier, counts in snapshot.tiers.items():
            for name in COUNTERS:
                current = counts.get(name, 0)
                previous = self._last_cache.get((tier, name), 0)
                # A smaller figure means the cache's counters restarted: count them afresh.
                step = current - previous if current >= previous else current
                if step:
                    m.cache_counters[name].labels(tier).inc(step)
                self._last_cache[(tier, name)] = current
        for state_name in CIRCUIT_STATES:
            value = 1.0 if state_name == snapshot.circuit_state else 0.0
            m.cache_circuit_state.labels(state_name).set(value)
        if snapshot.memory_entries is not None:
            m.cache_memory_items.set(snapshot.memory_entries)

    def _sample_pool(self, pool: Any) -> None:
        checked_out = getattr(pool, "checkedout", None)
        checked_in = getattr(pool, "checkedin", None)
        if callable(checked_out):
            in_use = int(checked_out())
            self.metrics.db_pool_in_use.set(in_use)
            if callable(checked_in):
                self.metrics.db_pool_size.set(in_use + int(checked_in()))

    def _sample_process(self) -> None:
        readings = {
            sample.name: sample.value
            for family in self._process.collect()
            for sample in family.samples
        }
        m = self.metrics
        cpu = readings.get("process_cpu_seconds_total")
        if cpu is not None:
            if cpu > self._last_cpu:
                m.process_cpu.inc(cpu - self._last_cpu)
            self._last_cpu = max(cpu, self._last_cpu)
        for name, gauge in (
            ("process_resident_memory_bytes", m.process_memory),
            ("process_open_fds", m.process_open_fds),
            ("process_start_time_seconds", m.process_start_time),
        ):
            if name in readings:
                gauge.set(readings[name])
