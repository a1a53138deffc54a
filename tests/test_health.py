"""/health/live and /health/ready: each check's pass, warn and fail, and the time bound."""

from __future__ import annotations

import asyncio
import gc
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
from leadflow.cache.breaker import CircuitState
from leadflow.cache.hybrid import Cache
from leadflow.db import create_engine
from leadflow.maintenance.schema import upgrade_database
from leadflow.models import EmailIngestRun, IngestMode, IngestStatus, Mailbox, MailProvider
from leadflow.monitoring.health.checks import (
    Check,
    HealthContext,
    checks_for,
    judge_cache,
    run_checks,
)
from leadflow.monitoring.health.report import CheckResult, Status
from leadflow.settings import Settings
from tests.cache_helpers import cache_settings, open_cache, wait_until
from tests.fakes.clock import EPOCH
from tests.monitoring.blackhole import blackholed_port, silent_server
from tests.monitoring.cached_app import cached_app
from tests.redis_server import RedisServer

HEALTH_TYPE = "application/health+json"


async def _ready(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/health/ready")


async def _value(value: object) -> object:
    return value


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
    assert _by_key(body, "cache:status")["output"] == "memory cache only (no Redis configured)"
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
            # The suite's heap is large by now: collect before timing, so a full collection of
            # other tests' garbage does not land inside the one second (it did once in CI).
            gc.collect()
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


def _cache_check(settings: Settings) -> list[Check]:
    return [c for c in checks_for(settings) if c.key == "cache:status"]


async def _cache_result(settings: Settings, engine: AsyncEngine, cache: Cache) -> CheckResult:
    ctx = HealthContext(settings=settings, engine=engine, cache=cache)
    (result,) = await run_checks(ctx, _cache_check(settings))
    return result


async def test_the_cache_check_passes_on_redis_with_its_round_trip_time(
    settings: Settings, engine: AsyncEngine, redis_server: RedisServer
) -> None:
    async with open_cache(cache_settings(redis_server.url)) as cache:
        assert await cache.get_or_set("k", lambda: _value("v"), 60) == "v"
        result = await _cache_result(settings, engine, cache)
        stats = cache.stats()
    assert result.status is Status.PASS
    assert stats.redis.latency.count >= 1
    assert result.observed_value == stats.redis.latency.mean_ms
    assert result.observed_unit == "ms"
    assert result.output is None


async def test_the_cache_check_passes_without_redis(
    settings: Settings, engine: AsyncEngine
) -> None:
    async with open_cache(cache_settings(None)) as cache:
        await cache.get_or_set("k", lambda: _value("v"), 60)
        result = await _cache_result(settings, engine, cache)
    assert result.status is Status.PASS
    assert result.output == "memory cache only (no Redis configured)"
    assert result.observed_value is None


async def test_the_cache_check_warns_on_the_memory_fallback_and_passes_once_redis_is_back(
    settings: Settings, engine: AsyncEngine, redis_server: RedisServer
) -> None:
    async with open_cache(cache_settings(redis_server.url)) as cache:
        redis_server.kill()
        n = 0
        while cache.stats().circuit.state is CircuitState.CLOSED:  # real failed operations
            n += 1
            assert await cache.get_or_set(f"k{n}", lambda n=n: _value(n), 60) == n
        await cache.invalidate_tags("leads")  # a write Redis cannot hear now
        warned = await _cache_result(settings, engine, cache)
        redis_server.start()
        await wait_until(lambda: cache.stats().circuit.state is CircuitState.CLOSED)
        back = await _cache_result(settings, engine, cache)
    assert warned.status is Status.WARN
    assert warned.observed_value in {"open", "half_open"}
    assert warned.output is not None
    assert "serving from the memory cache" in warned.output
    assert "1 invalidation(s) waiting to reach Redis" in warned.output
    assert back.status is Status.PASS


async def test_a_half_open_circuit_still_warns(
    settings: Settings, engine: AsyncEngine, redis_server: RedisServer
) -> None:
    # Half-open lasts only while a probe's PING is in flight, which a real Redis never lets a
    # test observe: the real stats of an open circuit, with the state moved on.
    async with open_cache(cache_settings(redis_server.url)) as cache:
        redis_server.kill()
        await wait_until(lambda: cache.stats().circuit.state is not CircuitState.CLOSED)
        stats = cache.stats()
    half_open = stats.model_copy(
        update={"circuit": stats.circuit.model_copy(update={"state": CircuitState.HALF_OPEN})}
    )
    (check,) = _cache_check(settings)
    result = judge_cache(HealthContext(settings=settings, engine=engine), check, half_open)
    assert result.status is Status.WARN
    assert result.observed_value == "half_open"


async def test_a_hanging_redis_holds_up_neither_ready_nor_its_answer_and_then_warns(
    settings: Settings, engine: AsyncEngine
) -> None:
    # A list request stuck on a Redis that never answers (for cache_redis_timeout) must not
    # hold up /health/ready, nor make it fail: ready answers while the list is still waiting,
    # with the default per-check timeout so a loaded machine's slow database check is not
    # what decides the answer. Once that wait has opened the circuit, ready warns.
    async with (
        silent_server() as port,
        cached_app(
            settings,
            f"redis://127.0.0.1:{port}/0",
            subscribed=False,
            cache_redis_timeout=3.0,
            cache_breaker_failures=1,
            cache_probe_interval_seconds=60,  # no probe closes the circuit during the test
            health_check_timeout=Settings.model_fields["health_check_timeout"].default,
        ) as (app, client),
    ):
        listing = asyncio.create_task(client.get("/api/leads"))
        during = await client.get("/health/ready")
        listing_was_waiting = not listing.done()
        listed = await listing
        after = await client.get("/health/ready")
        state = app.state.cache.stats().circuit.state
    assert listing_was_waiting, "ready waited for the list request's Redis timeout"
    assert listed.status_code == 200
    assert state is not CircuitState.CLOSED
    assert during.status_code == 200, during.json()
    assert _by_key(during.json(), "cache:status")["status"] == "pass"  # not given up yet
    assert after.status_code == 200, after.json()
    last = _by_key(after.json(), "cache:status")
    assert last["status"] == "warn"
    assert "serving from the memory cache" in last["output"]


async def test_a_cache_on_fallback_warns_but_ready_still_answers_200(
    settings: Settings, engine: AsyncEngine, redis_server: RedisServer
) -> None:
    async with cached_app(settings, redis_server.url) as (app, client):
        redis_server.kill()
        await wait_until(lambda: app.state.cache.stats().circuit.state is not CircuitState.CLOSED)
        response = await client.get("/health/ready")
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
