"""The app with a real cache on a Redis of the test's choosing, and a client with the token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from leadflow.api.app import create_app
from leadflow.settings import Settings
from tests.cache_helpers import wait_until
from tests.conftest import API_TOKEN


@asynccontextmanager
async def cached_app(
    settings: Settings, redis_url: str | None, *, subscribed: bool = True, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """Started app on `redis_url` (quick timeouts and probes); with `subscribed`, wait until its
    cache listens to Redis (the near cache is on)."""
    app = create_app(
        settings.model_copy(
            update={
                "redis_url": redis_url,
                "cache_redis_timeout": 0.25,
                "cache_probe_interval_seconds": 0.3,
                **overrides,
            }
        )
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://leadflow.test",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        ) as client,
    ):
        if subscribed and redis_url is not None:
            await wait_until(lambda: app.state.cache.stats().redis.subscribed)
        yield app, client
