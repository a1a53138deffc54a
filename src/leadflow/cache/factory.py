"""Build a process's `Cache` from Settings (no connection is opened until it is used)."""

from __future__ import annotations

import os
import re
import socket

from leadflow.cache.breaker import CircuitBreaker
from leadflow.cache.clock import Clock, SystemClock
from leadflow.cache.hybrid import Cache
from leadflow.cache.memory import MemoryTier
from leadflow.cache.redis_tier import RedisTier
from leadflow.cache.stats import Counters
from leadflow.settings import Settings


def client_name(role: str) -> str:
    """What `CLIENT LIST` shows for this process's connections: role, host and pid."""
    raw = f"leadflow-{role}-{socket.gethostname()}-{os.getpid()}"
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", raw)[:120]


def build_cache(settings: Settings, *, role: str, clock: Clock | None = None) -> Cache:
    clock = clock or SystemClock()
    counters = Counters()
    redis = None
    if settings.redis_url:
        redis = RedisTier(
            settings.redis_url,
            namespace=settings.cache_namespace,
            timeout=settings.cache_redis_timeout,
            max_connections=settings.cache_redis_max_connections,
            client_name=client_name(role),
            latency=counters.latency,
            health_check_interval=max(1, round(settings.cache_probe_interval_seconds)),
        )
    return Cache(
        memory=MemoryTier(max_items=settings.cache_memory_max_items, clock=clock),
        redis=redis,
        breaker=CircuitBreaker(failure_threshold=settings.cache_breaker_failures, clock=clock),
        clock=clock,
        counters=counters,
        fallback_ttl=settings.cache_fallback_ttl_seconds,
        probe_interval=settings.cache_probe_interval_seconds,
        lock_ttl=settings.cache_lock_ttl_seconds if settings.cache_redis_lock else None,
        enabled=settings.cache_enabled,
    )
