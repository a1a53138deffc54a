"""The process's metric instruments, created once on first use (never at import).

Multiprocess mode: when PROMETHEUS_MULTIPROC_DIR is set before prometheus_client is imported
(`leadflow serve --workers N` and LEADFLOW_METRICS_DIR do this), every process writes its
values to files in that directory and a scrape of any worker adds them up. Counters and
histograms sum over all processes, dead ones included, so they never go backwards; gauges that
describe a live process (pool in use, memory) sum or take the extreme over live processes only.
Without the variable, values live in this process and in `Metrics.registry`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from leadflow.monitoring.metrics.multiproc import MULTIPROC_ENV, dead_process_ids

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


CACHE_TIER_COUNTERS = {
    "hits": "Cache reads answered, by tier (memory, redis).",
    "misses": "Cache reads a tier did not hold, by tier.",
    "sets": "Values written to the cache, by tier.",
    "errors": "Cache operations that failed or timed out, by tier (memory never fails).",
    "fallbacks": "memory: reads it answered because Redis was unavailable; redis: operations "
    "that skipped or failed on Redis and were served by memory instead.",
}


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """Every instrument leadflow updates in-process. Metric names are part of the contract:
    deploy/grafana-dashboard.json and deploy/prometheus-alerts.yml use them."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.registry = registry
        r = registry
        self.http_requests = Counter(
            "leadflow_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "leadflow_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # The cache's figures (`Cache.stats()`, copied in by `metrics/cache.py`).
        self.cache_counters = {
            name: Counter(f"leadflow_cache_{name}", help_text, ["tier"], registry=r)
            for name, help_text in CACHE_TIER_COUNTERS.items()
        }
        self.cache_circuit_opened = Counter(
            "leadflow_cache_circuit_opened",
            "Times the Redis circuit opened (Redis given up for the memory fallback).",
            registry=r,
        )
        self.cache_loads = Counter(
            "leadflow_cache_loads",
            "Cache misses computed by a loader (the database was read).",
            registry=r,
        )
        self.cache_memory_evictions = Counter(
            "leadflow_cache_memory_evictions",
            "Memory entries pushed out by the LRU bound (LEADFLOW_CACHE_MEMORY_MAX_ITEMS).",
            registry=r,
        )
        self.cache_invalidations = Counter(
            "leadflow_cache_invalidations",
            "Cache invalidations made by this process (local) and heard from others (remote).",
            ["origin"],
            registry=r,
        )
        self.cache_redis_round_trips = Counter(
            "leadflow_cache_redis_round_trips",
            "Redis round trips of cache operations that answered (failures count as errors).",
            registry=r,
        )
        self.cache_redis_round_trip_seconds = Counter(
            "leadflow_cache_redis_round_trip_seconds",
            "Time those round trips took; divided by leadflow_cache_redis_round_trips_total, "
            "the mean Redis latency.",
            registry=r,
        )
        self.cache_circuit_state = Gauge(
            "leadflow_cache_circuit_state",
            "1 for the Redis circuit's current state (closed, open, half_open); "
            "the highest over live processes.",
            ["state"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.cache_memory_items = Gauge(
            "leadflow_cache_memory_items",
            "Entries in the in-memory cache tier, summed over live processes.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.gmail_calls = Counter(
            "leadflow_gmail_api_calls",
            "Gmail API HTTP requests by method (messages.get, batch, ...) and HTTP status; "
            "a batch counts once, under method=batch.",
            ["method", "status"],
            registry=r,
        )
        self.gmail_quota_units = Counter(
            "leadflow_gmail_quota_units",
            "Gmail quota units spent (messages.get 5, history.list 2, ...).",
            registry=r,
        )
        self.gmail_throttled = Counter(
            "leadflow_gmail_throttled",
            "Gmail answers that said the quota was exceeded (429, rate-limit 403).",
            registry=r,
        )
        self.db_pool_in_use = Gauge(
            "leadflow_db_pool_connections_in_use",
            "Database connections checked out of the pool, summed over live processes.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.db_pool_size = Gauge(
            "leadflow_db_pool_connections",
            "Database connections open in the pool (idle and in use), summed over live processes.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.process_cpu = Counter(
            "process_cpu_seconds",
            "User and system CPU time spent, over all leadflow processes that reported.",
            registry=r,
        )
        self.process_memory = Gauge(
            "process_resident_memory_bytes",
            "Resident memory, summed over live processes.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.process_open_fds = Gauge(
            "process_open_fds",
            "Open file descriptors, summed over live processes.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.process_start_time = Gauge(
            "process_start_time_seconds",
            "Start time of the oldest live process, in seconds since the epoch.",
            multiprocess_mode="livemin",
            registry=r,
        )


_lock = threading.Lock()
_metrics: Metrics | None = None


def get_metrics() -> Metrics:
    """The process's instruments (created on first call; one set per process)."""
    global _metrics
    with _lock:
        if _metrics is None:
            # `_created` series double the output and no dashboard or alert of ours reads them.
            disable_created_metrics()  # type: ignore[no-untyped-call]
            registry = None if multiprocess_dir() else CollectorRegistry(auto_describe=True)
            _metrics = Metrics(registry)
        return _metrics


def mark_this_process_dead() -> None:
    """Drop this process's live gauges from the multiprocess files (on shutdown)."""
    if multiprocess_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def forget_dead_processes() -> None:
    """Drop the live gauges of processes that died without saying so (a killed worker), so its
    last circuit state or pool size stops counting; its counters stay, they must not go back."""
    directory = multiprocess_dir()
    if directory is None:
        return
    from prometheus_client import multiprocess

    for pid in dead_process_ids(Path(directory), pattern="gauge_live*.db"):
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
