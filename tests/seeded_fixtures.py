"""Databases of their own for the seed, optimize and query-discipline tests.

`seeded_settings` (session): a database filled once by `leadflow db seed` at a tiny scale, for
tests that only read (or roll back). `scratch_settings` (per test): an empty, migrated database
of its own, for tests that seed, delete or change the schema. Both are separate from the run's
main test database, so nothing here disturbs the other tests' empty tables.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from leadflow.db import async_url
from leadflow.maintenance.schema import upgrade_database
from leadflow.maintenance.seed import seed_database
from leadflow.maintenance.seed_plan import Scale, SeedPlan, anchor_for
from leadflow.settings import Settings
from tests.services import admin_postgres_url, postgres_available, require_service

TINY = Scale("tiny", 150, 600, 1_500, 6_000, 600, ingest_days=100)
ANCHOR = anchor_for(date(2026, 11, 30))
API_TOKEN = "test-token-not-a-secret"


class NoProgress:
    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.steps: list[str] = []

    def start(self, total_rows: int) -> None:
        self.total = total_rows

    def advance(self, rows: int) -> None:
        self.done += rows

    def step(self, description: str) -> None:
        self.steps.append(description)


def tiny_plan(seed: int = 1, scale: Scale = TINY) -> SeedPlan:
    return SeedPlan(scale=scale, seed=seed, anchor=ANCHOR)


def settings_for(url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        api_token=API_TOKEN,
        redis_url=None,
        db_connect_timeout=3,
        db_statement_timeout=20,
        # These tests read what the database does: no cache in front, no warming behind.
        cache_enabled=False,
        cache_warm=False,
    )


async def _admin(statement: str) -> None:
    engine = create_async_engine(async_url(admin_postgres_url()), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@asynccontextmanager
async def scratch_database(backend: str, directory: Path) -> AsyncIterator[str]:
    """A new, empty database (not migrated); dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'scratch-{uuid.uuid4().hex[:8]}.db'}"
        return
    require_service("PostgreSQL", postgres_available())
    name = f"leadflow_test_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield admin_postgres_url(database=name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _backend() -> str:
    return os.environ.get("LEADFLOW_TEST_DB", "sqlite").lower()


@pytest.fixture(scope="session")
async def seeded_settings(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    """A database seeded once at the tiny scale (seed 1, anchor 2026-11-30). Read only."""
    directory = tmp_path_factory.mktemp("seeded")
    async with scratch_database(_backend(), directory) as url:
        settings = settings_for(url)
        await seed_database(settings, tiny_plan(), force=False, progress=NoProgress())
        yield settings


@pytest.fixture(scope="session")
async def _scratch_postgres(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[str | None]:
    """One PostgreSQL database for every scratch test (dropping a database forces a checkpoint:
    too slow to do per test); each test gets a fresh schema in it instead."""
    if _backend() != "postgresql":
        yield None
        return
    async with scratch_database("postgresql", tmp_path_factory.mktemp("scratch")) as url:
        yield url


@pytest.fixture
async def bare_settings(tmp_path: Path, _scratch_postgres: str | None) -> AsyncIterator[Settings]:
    """An empty database of this test's own with no schema (SQLite: an empty file)."""
    if _scratch_postgres is None:
        async with scratch_database("sqlite", tmp_path) as url:
            settings = settings_for(url)
            await asyncio.to_thread(Path(url.removeprefix("sqlite:///")).touch)
            yield settings
        return
    engine = create_async_engine(async_url(_scratch_postgres), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()
    yield settings_for(_scratch_postgres)


@pytest.fixture
async def scratch_settings(bare_settings: Settings) -> Settings:
    """An empty database of this test's own, migrated to head."""
    await upgrade_database(bare_settings)
    return bare_settings


@pytest.fixture
def backend() -> str:
    return _backend()
