"""/health/live and /health/ready: each check's pass, warn and fail, and the time bound."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from leadflow.api.app import create_app
from leadflow.db import create_engine
from leadflow.maintenance.schema import upgrade_database
from leadflow.models import EmailIngestRun, IngestMode, IngestStatus, Mailbox, MailProvider
from leadflow.monitoring.health.checks import HealthContext, checks_for, run_checks
from leadflow.monitoring.health.report import Status
from leadflow.settings import Settings
from tests.fakes.clock import EPOCH
from tests.monitoring.blackhole import blackholed_port
from tests.monitoring.fake_cache import HangingCache, ModelCache, SnapshotCache, snapshot

HEALTH_TYPE = "application/health+json"


async def _ready(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/health/ready")


def _by_key(body: dict[str, Any], key: str) -> dict[str, Any]:
    entries = body["checks"][key]
    assert len(entries) == 1
    entry: dict[str, Any] = entries[0]
    return entry


async def test_live_answers_pass_without_a_token(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.get("/health/live")
    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_TYPE
    assert response.json()["status"] == "pass"
    assert (await anon_client.head("/health/live")).status_code == 200


async def test_ready_passes_with_every_check_in_the_draft_format(
    anon_client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await anon_client.get("/health/ready")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == HEALTH_TYPE
    body = response.json()
    assert body["status"] == "pass"
    assert body["version"]
    expected = {check.key for check in checks_for(settings)}
    assert set(body["checks"]) == expected
    database = _by_key(body, "database:responseTime")
    assert database["componentType"] == "datastore"
    assert database["observedUnit"] == "ms"
    assert database["observedValue"] >= 0
    assert database["status"] == "pass"
    assert "time" in database
    assert _by_key(body, "cache:status")["output"] == "no cache configured"
    alias = await anon_client.get("/health")
    assert alias.status_code == 200
    assert set(alias.json()["checks"]) == expected


async def test_health_routes_are_not_in_the_openapi_schema(anon_client: httpx.AsyncClient) -> None:
    paths = (await anon_client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith("/health") or path == "/metrics"]


async def test_a_blackholed_database_fails_ready_within_one_second(
    settings: Settings,
) -> None:
    with blackholed_port() as port:
        hung = settings.model_copy(
            update={
                "database_url": f"postgresql://leadflow@127.0.0.1:{port}/leadflow",
                "db_connect_timeout": 30.0,
                # Well under the 1 s bound: the rest is left for a loaded test machine.
                "health_check_timeout": 0.3,
            }
        )
        app = create_app(hung)
        async with LifespanManager(app):
            started = time.perf_counter()
            responses = await asyncio.gather(*(_ready(app) for _ in range(3)))
            elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"answered after {elapsed:.2f} s"
    for response in responses:
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "fail"
        database = _by_key(body, "database:responseTime")
        assert database["status"] == "fail"
        assert database["output"] == "no answer within 0.3 s"
        assert _by_key(body, "cache:status")["status"] == "pass"


async def test_migrations_behind_head_fail_ready(tmp_path: Path) -> None:
    behind = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'old.db'}")  # type: ignore[call-arg]
    await upgrade_database(behind, "0001")
    engine = create_engine(behind)
    try:
        (check,) = [c for c in checks_for(behind) if c.key == "database:migrations"]
        (result,) = await run_checks(HealthContext(settings=behind, engine=engine), [check])
    finally:
        await engine.dispose()
    assert result.status is Status.FAIL
    assert result.observed_value == "0001"
    assert result.output is not None
    assert "leadflow db upgrade" in result.output


def _cache_check(settings: Settings) -> Any:
    return [c for c in checks_for(settings) if c.key == "cache:status"]


@pytest.mark.parametrize(
    ("cache", "status"),
    [
        (SnapshotCache(snapshot(redis=True, circuit="closed")), Status.PASS),
        (SnapshotCache(snapshot(redis=False, circuit="closed")), Status.PASS),
        (SnapshotCache(snapshot(redis=True, circuit="open")), Status.WARN),
        (SnapshotCache(snapshot(redis=True, circuit="half_open")), Status.WARN),
        (ModelCache(snapshot(redis=True, circuit="open")), Status.WARN),
        (ModelCache(snapshot(redis=True, circuit="closed")), Status.PASS),
        (HangingCache(), Status.FAIL),
    ],
    ids=["redis", "memory-only", "fallback", "half-open", "model-open", "model-closed", "hanging"],
)
async def test_the_cache_check(
    settings: Settings, engine: AsyncEngine, cache: Any, status: Status
) -> None:
    quick = settings.model_copy(update={"health_check_timeout": 0.2})
    ctx = HealthContext(settings=quick, engine=engine, cache=cache)
    (result,) = await run_checks(ctx, _cache_check(quick))
    assert result.status is status
    if status is Status.WARN:
        assert result.output is not None
        assert "memory cache" in result.output


async def test_a_cache_on_fallback_warns_but_ready_still_answers_200(app: FastAPI) -> None:
    app.state.cache = SnapshotCache(snapshot(redis=True, circuit="open"))
    response = await _ready(app)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "warn"
    assert _by_key(body, "cache:status")["status"] == "warn"
    assert any(note.startswith("cache:status") for note in body["notes"])


async def test_low_disk_space_warns_then_fails(settings: Settings, engine: AsyncEngine) -> None:
    if checks_for(settings)[-1].key != "disk:free":
        pytest.skip("the disk check applies to a SQLite file only")
    warn = settings.model_copy(update={"health_disk_warn_bytes": 10**18})
    fail = settings.model_copy(update={"health_disk_fail_bytes": 10**18})
    for chosen, status in ((settings, Status.PASS), (warn, Status.WARN), (fail, Status.FAIL)):
        disk = [c for c in checks_for(chosen) if c.key == "disk:free"]
        (result,) = await run_checks(HealthContext(settings=chosen, engine=engine), disk)
        assert result.status is status
        assert result.observed_unit == "bytes"


def test_disk_is_checked_for_a_sqlite_file_only(settings: Settings) -> None:
    pg = settings.model_copy(update={"database_url": "postgresql://u@h/db"})
    assert "disk:free" not in {c.key for c in checks_for(pg)}
    lite = settings.model_copy(update={"database_url": "sqlite:///x.db"})
    assert "disk:free" in {c.key for c in checks_for(lite)}


# --- Gmail sync freshness --------------------------------------------------------------------


@pytest.fixture
def gmail_settings(settings: Settings, tmp_path: Path) -> Settings:
    credentials = tmp_path / "credentials.json"
    credentials.write_text("{}")
    return settings.model_copy(
        update={
            "gmail_credentials": credentials,
            "gmail_user": "info@rendetalje.dk",
            "sync_interval_seconds": 60.0,
            "health_sync_failing_seconds": 1800.0,
        }
    )


async def _mailbox(session: AsyncSession, *, succeeded_minutes_ago: float | None) -> Mailbox:
    mailbox = Mailbox(email="info@rendetalje.dk", provider=MailProvider.GMAIL)
    if succeeded_minutes_ago is not None:
        mailbox.last_sync_succeeded_at = EPOCH - timedelta(minutes=succeeded_minutes_ago)
    session.add(mailbox)
    await session.flush()
    return mailbox


def _run(mailbox: Mailbox, status: IngestStatus, minutes_ago: float) -> EmailIngestRun:
    started = EPOCH - timedelta(minutes=minutes_ago)
    return EmailIngestRun(
        mailbox_id=mailbox.id,
        mode=IngestMode.INCREMENTAL,
        status=status,
        started_at=started,
        finished_at=started + timedelta(seconds=5),
    )


async def _gmail_result(settings: Settings, engine: AsyncEngine) -> Any:
    gmail = [c for c in checks_for(settings) if c.key == "gmail-sync:freshness"]
    assert gmail, "the Gmail check applies once credentials are configured"
    ctx = HealthContext(settings=settings, engine=engine, now=lambda: EPOCH)
    (result,) = await run_checks(ctx, gmail)
    return result


def test_the_gmail_check_is_off_without_credentials(settings: Settings) -> None:
    assert "gmail-sync:freshness" not in {c.key for c in checks_for(settings)}


async def test_gmail_warns_before_the_first_sync(
    gmail_settings: Settings, engine: AsyncEngine
) -> None:
    result = await _gmail_result(gmail_settings, engine)
    assert result.status is Status.WARN
    assert result.output == "no sync has run yet"


async def test_gmail_passes_after_a_recent_success(
    gmail_settings: Settings, engine: AsyncEngine, session: AsyncSession
) -> None:
    mailbox = await _mailbox(session, succeeded_minutes_ago=2)
    session.add(_run(mailbox, IngestStatus.COMPLETED, 2))
    await session.commit()
    result = await _gmail_result(gmail_settings, engine)
    assert result.status is Status.PASS
    assert result.observed_value == 120.0
    assert result.observed_unit == "s"


async def test_gmail_warns_when_the_last_success_is_older_than_three_intervals(
    gmail_settings: Settings, engine: AsyncEngine, session: AsyncSession
) -> None:
    mailbox = await _mailbox(session, succeeded_minutes_ago=3.5)
    session.add(_run(mailbox, IngestStatus.COMPLETED, 3.5))
    await session.commit()
    result = await _gmail_result(gmail_settings, engine)
    assert result.status is Status.WARN
    assert "more than 180 s" in result.output


async def test_gmail_fails_when_syncs_failed_for_longer_than_the_window(
    gmail_settings: Settings, engine: AsyncEngine, session: AsyncSession
) -> None:
    mailbox = await _mailbox(session, succeeded_minutes_ago=45)
    mailbox.last_error = "Gmail answered 401: invalid_grant"
    session.add(_run(mailbox, IngestStatus.COMPLETED, 45))
    for minutes in (40, 20, 1):
        session.add(_run(mailbox, IngestStatus.FAILED, minutes))
    await session.commit()
    result = await _gmail_result(gmail_settings, engine)
    assert result.status is Status.FAIL
    assert result.output.startswith("syncs failing for 2400 s")
    assert "invalid_grant" in result.output


async def test_gmail_only_warns_while_failures_are_younger_than_the_window(
    gmail_settings: Settings, engine: AsyncEngine, session: AsyncSession
) -> None:
    mailbox = await _mailbox(session, succeeded_minutes_ago=10)
    session.add(_run(mailbox, IngestStatus.COMPLETED, 10))
    session.add(_run(mailbox, IngestStatus.FAILED, 5))
    await session.commit()
    result = await _gmail_result(gmail_settings, engine)
    assert result.status is Status.WARN


async def test_a_success_after_failures_ends_the_failing_streak(
    gmail_settings: Settings, engine: AsyncEngine, session: AsyncSession
) -> None:
    mailbox = await _mailbox(session, succeeded_minutes_ago=1)
    for minutes in (90, 60):
        session.add(_run(mailbox, IngestStatus.FAILED, minutes))
    session.add(_run(mailbox, IngestStatus.PARTIAL, 1))
    await session.commit()
    result = await _gmail_result(gmail_settings, engine)
    assert result.status is Status.PASS
