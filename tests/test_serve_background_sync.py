"""`leadflow serve` syncs Gmail in the background when Gmail is configured, and only then."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.api.app import create_app
from leadflow.models import EmailIngestRun, EmailMessage, IngestStatus
from leadflow.settings import Settings
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_server import serve_in_thread, write_credentials

USER = "info@rendetalje.dk"


@pytest.fixture
def gmail() -> Iterator[tuple[FakeMailbox, str]]:
    fake = FakeMailbox(email=USER)
    fake.add_synthetic_messages(12)
    with serve_in_thread(fake) as base_url:
        yield fake, base_url


async def _completed_runs(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        stmt = select(func.count(EmailIngestRun.id)).where(
            EmailIngestRun.status == IngestStatus.COMPLETED
        )
        return int((await session.execute(stmt)).scalar_one())


async def test_the_served_app_syncs_gmail_on_its_interval(
    gmail: tuple[FakeMailbox, str],
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    fake, base_url = gmail
    credentials = tmp_path / "gmail.json"
    write_credentials(fake, base_url, credentials)
    configured = settings.model_copy(
        update={
            "gmail_api_url": base_url,
            "gmail_credentials": credentials,
            "gmail_user": USER,
            "sync_interval_seconds": 0.2,
        }
    )
    app = create_app(configured, background_sync=True)
    async with LifespanManager(app):
        # Waiting for a condition (bounded), not sleeping to fix a race.
        for _ in range(300):
            if await _completed_runs(sessionmaker) >= 2:
                break
            await asyncio.sleep(0.05)
    assert await _completed_runs(sessionmaker) >= 2  # the full sync, then an incremental one
    async with sessionmaker() as session:
        stored = (await session.execute(select(func.count(EmailMessage.id)))).scalar_one()
    assert stored == 12
    after_shutdown = await _completed_runs(sessionmaker)
    await asyncio.sleep(0.5)  # the loop must have stopped with the app: no run starts now
    assert await _completed_runs(sessionmaker) == after_shutdown


async def test_without_gmail_credentials_the_app_runs_no_sync(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app = create_app(settings.model_copy(update={"gmail_credentials": None}), background_sync=True)
    async with LifespanManager(app):
        pass
    async with sessionmaker() as session:
        runs = (await session.execute(select(func.count(EmailIngestRun.id)))).scalar_one()
    assert runs == 0
