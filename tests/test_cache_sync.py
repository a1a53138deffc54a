"""A sync invalidates what it changed, batch by batch, and warms the cache when it is done."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leadflow.api.app import create_app
from leadflow.cache.invalidation import cli_sync_observer
from leadflow.cache.views import first_page
from leadflow.settings import Settings
from leadflow.sync.job import import_mbox
from leadflow.sync.router import stop_sync_tasks
from tests.cache_helpers import cache_settings, open_cache, wait_until
from tests.conftest import API_TOKEN
from tests.fakes.gmail import FakeMailbox
from tests.redis_server import RedisServer
from tests.sync_helpers import fake_client_factory, sync_settings
from tests.test_sync_api import finished

SAMPLE_MBOX = (
    Path(__file__).resolve().parents[1] / "src/leadflow/maintenance/data/sample-mailbox.mbox"
)


@pytest.fixture
def fake() -> FakeMailbox:
    return FakeMailbox()


@pytest.fixture
async def warm_app(
    settings: Settings, engine: AsyncEngine, fake: FakeMailbox, tmp_path: Path
) -> AsyncIterator[FastAPI]:
    app = create_app(sync_settings(settings, cache_warm=True))
    app.state.gmail_client_factory = fake_client_factory(fake, tmp_path)
    async with LifespanManager(app):
        await app.state.cache_warmer.wait()
        yield app
        await stop_sync_tasks(app)


async def test_a_sync_through_the_api_invalidates_and_then_warms(
    warm_app: FastAPI, fake: FakeMailbox
) -> None:
    warmer = warm_app.state.cache_warmer
    transport = httpx.ASGITransport(app=warm_app)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=headers
    ) as client:
        empty = await client.get("/api/dashboard/stats")
        assert (empty.headers["X-Cache"], empty.json()["threads"]["total"]) == ("hit", 0)
        fake.add_synthetic_messages(20)  # sync_batch_size 7: three batches

        run = (await client.post("/api/sync", json={})).json()
        assert (await finished(client, run["id"]))["new_emails"] == 20
        await wait_until(lambda: warmer.runs == 2)
        await warmer.wait()

        stats = await client.get("/api/dashboard/stats")
        assert stats.headers["X-Cache"] == "hit"  # warmed after the sync
        body = stats.json()
        assert body["threads"]["total"] > 0
        assert body["mailboxes"][0]["last_run"]["status"] == "completed"
        threads = await client.get("/api/threads")
        assert threads.headers["X-Cache"] == "hit"
        assert threads.json()["total"] == body["threads"]["total"]
        # Three batches and the run's end: four invalidations at least.
        assert warm_app.state.cache.stats().invalidations.local >= 4

        again = (await client.post("/api/sync", json={})).json()
        assert (await finished(client, again["id"]))["new_emails"] == 0
        assert warmer.runs == 2  # nothing changed: nothing to warm
        refreshed = await client.get("/api/dashboard/stats")
        assert refreshed.headers["X-Cache"] == "miss"  # the mailbox's last run moved
        assert refreshed.json()["mailboxes"][0]["last_run"]["mode"] == "incremental"


async def test_a_cli_sync_reaches_the_serving_processes_through_redis(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis_server: RedisServer,
) -> None:
    shared = cache_settings(redis_server.url)
    cli_settings = settings.model_copy(
        update={"redis_url": redis_server.url, "cache_namespace": "test", "cache_warm": True}
    )
    async with open_cache(shared) as serving:
        await serving.set("dashboard:stats", "before the import", 300, tags=["threads"])
        await serving.set("unrelated", "kept", 300, tags=["bookings"])
        async with cli_sync_observer(cli_settings, sessionmaker, role="sync") as observer:
            assert observer is not None
            result = await import_mbox(
                cli_settings, sessionmaker, path=SAMPLE_MBOX, observer=observer
            )
        assert result.new > 0
        await wait_until(lambda: serving.stats().invalidations.remote >= 2)
        assert await serving.get("dashboard:stats") is None
        assert await serving.get("unrelated") == "kept"
        # The CLI warmed Redis before it exited: the serving process finds the lists there.
        view = first_page("threads")
        assert await serving.get(view.key, schema=view.schema) is not None


async def test_without_redis_a_cli_sync_has_no_one_to_tell(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with cli_sync_observer(settings, sessionmaker, role="sync") as observer:
        assert observer is None
