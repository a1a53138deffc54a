"""Test fixtures: one database per run (SQLite or PostgreSQL), built by `alembic upgrade head`.

Choose the backend with LEADFLOW_TEST_DB=sqlite|postgresql (default sqlite); `make test` runs both.
PostgreSQL comes from LEADFLOW_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
Every test starts from empty tables (truncated after each test).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leadflow.api.app import create_app
from leadflow.db import create_engine, create_sessionmaker
from leadflow.migrations import run_upgrade
from leadflow.settings import Settings
from tests.db_reset import reset
from tests.redis_server import RedisServer
from tests.services import admin_postgres_url, postgres_available, redis_available, require_service

if TYPE_CHECKING:
    from tests.sync_helpers import Harness

pytest_plugins = ["tests.fakes.fixtures", "tests.seeded_fixtures"]

API_TOKEN = "test-token-not-a-secret"
BACKEND = os.environ.get("LEADFLOW_TEST_DB", "sqlite").lower()
if BACKEND not in {"sqlite", "postgresql"}:
    raise pytest.UsageError(f"LEADFLOW_TEST_DB must be sqlite or postgresql, not {BACKEND!r}")


def pytest_report_header() -> str:
    return f"leadflow test database: {BACKEND}"


# A test whose fixtures include one of these runs against the chosen database; any other test
# does the same on either, and `make test` runs it once, in the SQLite pass.
_DATABASE_FIXTURES = frozenset(
    {"database_url", "seeded_settings", "_scratch_postgres", "bare_settings", "backend"}
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-tests-only",
        action="store_true",
        help="run only the tests that use the test database, and PostgreSQL-only tests "
        "(make test's second pass: the others ran in its SQLite pass)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("database_tests_only"):
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            (kept if _uses_the_database(item) else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    for item in items:
        if BACKEND != "postgresql" and item.get_closest_marker("postgres_only"):
            item.add_marker(
                pytest.mark.skip(
                    reason="PostgreSQL-only test; run with LEADFLOW_TEST_DB=postgresql"
                )
            )
        if BACKEND != "sqlite" and item.get_closest_marker("sqlite_only"):
            item.add_marker(
                pytest.mark.skip(reason="SQLite-only test; run with LEADFLOW_TEST_DB=sqlite")
            )


def _uses_the_database(item: pytest.Item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    postgres_only = item.get_closest_marker("postgres_only") is not None
    return postgres_only or bool(fixtures & _DATABASE_FIXTURES)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database for this test run."""
    if BACKEND == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "leadflow-test.db"
        yield f"sqlite:///{path}"
        return
    require_service("PostgreSQL", postgres_available())
    import asyncio

    name = f"leadflow_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_postgres_url(database=name)
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin_sql(statement: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from leadflow.db import async_url

    engine = create_async_engine(async_url(admin_postgres_url()), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        api_token=API_TOKEN,
        redis_url=None,
        db_connect_timeout=3,
        db_statement_timeout=10,
        # Tests arrange rows straight in the database, which no invalidation sees: warming at
        # start-up would cache the empty tables first. Warming has its own tests.
        cache_warm=False,
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings, application_name="leadflow-tests")
    async with engine.connect() as conn:
        await conn.run_sync(run_upgrade)
        await conn.commit()
    yield engine
    await engine.dispose()


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "engine" not in request.fixturenames:
        return
    await reset(request.getfixturevalue("engine"))


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for arranging and checking data; commit to make rows visible to the app."""
    async with sessionmaker() as session:
        yield session


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://leadflow.test",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    ) as client:
        yield client


@pytest.fixture
async def anon_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://leadflow.test") as client:
        yield client


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A directory without a .env, and no LEADFLOW_ variable but the connect timeout."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in list(os.environ):
        if name.startswith("LEADFLOW_") and not name.startswith("LEADFLOW_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LEADFLOW_DB_CONNECT_TIMEOUT", "1")
    return work


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("LEADFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    require_service("Redis", redis_available(url))
    return url


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own on a free port (stopped at the end)."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def harness(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> Harness:
    """A fake Gmail mailbox its owner can change (`AdminMailbox`) and what syncs it; test modules
    that need another fake define their own `harness`."""
    # Imported here: the sync helpers import this module's API_TOKEN.
    from tests.fakes.gmail_admin import AdminMailbox
    from tests.sync_helpers import Harness, fake_client_factory, sync_settings

    fake = AdminMailbox()
    return Harness(fake, sync_settings(settings), sessionmaker, fake_client_factory(fake, tmp_path))
