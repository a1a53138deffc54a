"""Copy readings that live elsewhere (the cache's stats, the pool, /proc) into the instruments.

A scrape samples the answering process first. In multiprocess mode (`serve --workers N`) each
process also samples itself every LEADFLOW_METRICS_SAMPLE_INTERVAL_SECONDS, busy or idle, and
once more as it stops, so a scrape shows the other workers' figures at most that old — an idle
worker's open circuit or its last requests' cache hits included. A worker that was killed (no
chance to say it stopped) has its live gauges dropped by the others' next sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from prometheus_client import ProcessCollector

from leadflow.monitoring.metrics.cache import CacheSampler
from leadflow.monitoring.metrics.instruments import (
    Metrics,
    forget_dead_processes,
    multiprocess_dir,
)

log = logging.getLogger(__name__)


class Sampler:
    """Per app: remembers the last cumulative readings so counters grow by the difference."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._cache = CacheSampler(metrics)
        self._last_cpu = 0.0
        self._process = ProcessCollector(registry=None)

    def sample(self, state: Any) -> None:
        """Read the cache and the engine's pool (once the lifespan made them) and the process."""
        cache = getattr(state, "cache", None)
        if cache is not None:
            self._cache.sample(cache.stats())
        engine = getattr(state, "engine", None)
        if engine is not None:
            self._sample_pool(engine.pool)
        self._sample_process()

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


class SamplingLoop:
    """In multiprocess mode, sample this process every `interval` seconds until stopped."""

    def __init__(self, sampler: Sampler, state: Any, *, interval: float) -> None:
        self._sampler = sampler
        self._state = state
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        # One process: every scrape samples it, nothing else reads its figures.
        if multiprocess_dir() is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="leadflow-metrics-sampling")

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self._interval)

    def _sample(self) -> None:
        try:
            forget_dead_processes()
            self._sampler.sample(self._state)
        except Exception:
            log.exception("could not sample the metrics; trying again next interval")

    async def stop(self) -> None:
        """Stop, and sample once more: what this process counted last reaches the files."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._sample()
