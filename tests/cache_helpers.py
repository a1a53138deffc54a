"""Shared by the cache tests: settings with a Redis of the test's own, started caches, waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from leadflow.cache.clock import Clock
from leadflow.cache.factory import build_cache
from leadflow.cache.hybrid import Cache
from leadflow.settings import Settings


def cache_settings(redis_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "cache_probe_interval_seconds": 0.3,
        "cache_redis_timeout": 0.25,
        "cache_namespace": "test",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def open_cache(
    settings: Settings, *, clock: Clock | None = None, subscribed: bool = True
) -> AsyncIterator[Cache]:
    """A started cache; with `subscribed`, wait until it listens for invalidations."""
    cache = build_cache(settings, role="test", clock=clock)
    await cache.start()
    try:
        if subscribed and settings.redis_url is not None:
            await wait_until(lambda: cache.stats().redis.subscribed)
        yield cache
    finally:
        await cache.close()


async def wait_until(condition: Callable[[], bool], *, within: float = 10.0) -> float:
    """Run the event loop until `condition()` holds; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - started
