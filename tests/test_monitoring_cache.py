"""Where monitoring and the cache meet: middleware order, request ids on the cache's log lines,
and /health/ready and /api/cache/stats telling the same story about the real cache."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow.api.app import create_app
from leadflow.api.boundary import ErrorBoundary
from leadflow.api.edge import RequestGuard
from leadflow.api.request_id import RequestIdMiddleware
from leadflow.cache.breaker import CircuitState
from leadflow.cache.invalidation import InvalidateOnWrite
from leadflow.logs import RequestIdFilter
from leadflow.monitoring.metrics.http import MetricsMiddleware
from leadflow.settings import Settings
from tests.cache_helpers import wait_until
from tests.monitoring.blackhole import silent_server
from tests.monitoring.cached_app import cached_app
from tests.monitoring.scrape import Samples, parse, value
from tests.redis_server import RedisServer

REDIS_TIMEOUT = 0.25  # cached_app's LEADFLOW_CACHE_REDIS_TIMEOUT


def test_the_metrics_middleware_wraps_the_invalidation(settings: Settings) -> None:
    app = create_app(settings)
    outermost_first = [m.cls for m in app.user_middleware]
    assert outermost_first == [
        RequestIdMiddleware,
        MetricsMiddleware,
        RequestGuard,
        InvalidateOnWrite,
        ErrorBoundary,
    ]


async def _scrape(client: httpx.AsyncClient) -> Samples:
    return parse((await client.get("/metrics")).text)


async def test_a_write_on_a_hanging_redis_is_timed_with_its_invalidation_under_its_request_id(
    settings: Settings, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="leadflow.cache")
    caplog.handler.addFilter(RequestIdFilter())
    async with (
        silent_server() as port,
        cached_app(
            settings,
            f"redis://127.0.0.1:{port}/0",
            subscribed=False,
            cache_probe_interval_seconds=60,  # the write is what gives Redis up
        ) as (app, client),
    ):
        before = await _scrape(client)
        started = time.perf_counter()
        response = await client.post(
            "/api/customers", json={"name": "Hung"}, headers={"X-Request-ID": "write-1"}
        )
        waited = time.perf_counter() - started
        after = await _scrape(client)
        stats = app.state.cache.stats()
    assert response.status_code == 201, response.text
    # The invalidation waited for Redis before the answer left: the client waited for it, and
    # the recorded latency includes it.
    assert waited >= REDIS_TIMEOUT
    duration = "leadflow_http_request_duration_seconds_sum"
    labels = {"route": "/api/customers", "method": "POST"}
    assert value(after, duration, **labels) - value(before, duration, **labels) >= REDIS_TIMEOUT
    assert stats.circuit.state is CircuitState.OPEN
    assert stats.invalidations.pending == 1
    opened = [r for r in caplog.records if "cache circuit open" in r.getMessage()]
    assert [getattr(r, "request_id", None) for r in opened] == ["write-1"]


async def _agreement(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    for _ in range(2):
        assert (await client.get("/api/leads")).status_code == 200
    ready = (await client.get("/health/ready")).json()
    (check,) = ready["checks"]["cache:status"]
    stats = (await client.get("/api/cache/stats")).json()
    return check, stats


@pytest.mark.parametrize("redis", ["none", "up", "down"])
async def test_ready_and_cache_stats_agree(
    settings: Settings, engine: AsyncEngine, redis_server: RedisServer, redis: str
) -> None:
    url = None if redis == "none" else redis_server.url
    async with cached_app(settings, url) as (app, client):
        if redis == "down":
            redis_server.kill()
            await wait_until(
                lambda: app.state.cache.stats().circuit.state is not CircuitState.CLOSED
            )
        check, stats = await _agreement(client)
    assert stats["redis"]["configured"] is (redis != "none")
    if redis == "none":
        assert check["status"] == "pass"
        assert check["output"] == "memory cache only (no Redis configured)"
    elif redis == "up":
        assert stats["circuit"]["state"] == "closed"
        assert check["status"] == "pass"
        assert check["observedValue"] == stats["redis"]["latency"]["mean_ms"]
        assert check["observedUnit"] == "ms"
    else:
        assert stats["circuit"]["state"] in {"open", "half_open"}
        assert check["status"] == "warn"
        assert check["observedValue"] == stats["circuit"]["state"]
        assert stats["memory"]["fallbacks"] > 0
        # Read a moment before the stats: at most as long ago as they say.
        said = re.search(r"unreachable for (\d+) s", check["output"])
        assert said is not None, check["output"]
        assert int(said.group(1)) <= stats["circuit"]["seconds_unavailable"] + 0.5
