"""The readiness checks, each a small coroutine, and the runner that bounds them in time.

Every check runs at once with its own timeout (LEADFLOW_HEALTH_CHECK_TIMEOUT), so a hanging
dependency (a blackholed database port, a stuck Redis) costs that check a `fail` after the
timeout instead of holding up the whole answer. A check that raises fails with the error's
type and message; nothing here retries.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow.cache.breaker import CircuitState
from leadflow.cache.hybrid import Cache
from leadflow.cache.stats import CacheStats
from leadflow.db import sqlite_file
from leadflow.migrations import current_revision, head_revision
from leadflow.models import EmailIngestRun, IngestStatus, Mailbox, utcnow
from leadflow.monitoring.health.report import CheckResult, Status
from leadflow.settings import Settings

STALE_INTERVALS = 3


@dataclass(frozen=True)
class HealthContext:
    settings: Settings
    engine: AsyncEngine
    cache: Cache | None = None
    now: Callable[[], datetime] = field(default=utcnow)


@dataclass(frozen=True)
class Check:
    key: str
    component_type: str
    component_id: str | None
    run: Callable[[HealthContext, Check], Awaitable[CheckResult]]

    def result(self, ctx: HealthContext, status: Status, **fields: object) -> CheckResult:
        return CheckResult(
            key=self.key,
            component_type=self.component_type,
            component_id=self.component_id,
            status=status,
            time=ctx.now(),
            **fields,  # type: ignore[arg-type]
        )


async def _database(ctx: HealthContext, check: Check) -> CheckResult:
    started = time.perf_counter()
    async with ctx.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    return check.result(ctx, Status.PASS, observed_value=elapsed_ms, observed_unit="ms")


@functools.cache
def _head() -> str | None:
    return head_revision()


async def _migrations(ctx: HealthContext, check: Check) -> CheckResult:
    head = await asyncio.to_thread(_head)
    async with ctx.engine.connect() as conn:
        current = await conn.run_sync(current_revision)
    if current == head:
        return check.result(ctx, Status.PASS, observed_value=current)
    return check.result(
        ctx,
        Status.FAIL,
        observed_value=current,
        output=f"database at revision {current or 'none'}, code expects {head}: "
        "run `leadflow db upgrade`",
    )


async def _cache(ctx: HealthContext, check: Check) -> CheckResult:
    if ctx.cache is None:
        return check.result(ctx, Status.PASS, output="no cache in this process")
    return judge_cache(ctx, check, ctx.cache.stats())


def judge_cache(ctx: HealthContext, check: Check, stats: CacheStats) -> CheckResult:
    """Pass on Redis or without Redis; warn while Redis is configured but given up (the
    circuit open, or half-open while a probe runs): requests are served from memory."""
    if not stats.redis.configured:
        return check.result(ctx, Status.PASS, output="memory cache only (no Redis configured)")
    circuit = stats.circuit
    if circuit.state is not CircuitState.CLOSED:
        pending = stats.invalidations.pending
        waiting = f"; {pending} invalidation(s) waiting to reach Redis" if pending else ""
        return check.result(
            ctx,
            Status.WARN,
            observed_value=circuit.state.value,
            output=f"Redis unreachable for {circuit.seconds_unavailable:.0f} s: serving from "
            f"the memory cache (circuit {circuit.state.value}){waiting}",
        )
    latency = stats.redis.latency.mean_ms
    return check.result(
        ctx,
        Status.PASS,
        observed_value=latency,
        observed_unit="ms" if latency is not None else None,
    )


async def _gmail_sync(ctx: HealthContext, check: Check) -> CheckResult:
    settings = ctx.settings
    async with ctx.engine.connect() as conn:
        mailbox = (
            await conn.execute(
                select(Mailbox.id, Mailbox.last_sync_succeeded_at, Mailbox.last_error).where(
                    Mailbox.email == settings.gmail_user.strip().lower()
                )
            )
        ).one_or_none()
        if mailbox is None:
            return check.result(ctx, Status.WARN, output="no sync has run yet")
        mailbox_id, succeeded_at, last_error = mailbox
        latest = await conn.scalar(
            select(EmailIngestRun.status)
            .where(
                EmailIngestRun.mailbox_id == mailbox_id,
                EmailIngestRun.status != IngestStatus.RUNNING,
            )
            .order_by(EmailIngestRun.started_at.desc(), EmailIngestRun.id.desc())
            .limit(1)
        )
        failing_since = None
        if latest == IngestStatus.FAILED:
            query = select(func.min(EmailIngestRun.started_at)).where(
                EmailIngestRun.mailbox_id == mailbox_id,
                EmailIngestRun.status == IngestStatus.FAILED,
            )
            if succeeded_at is not None:
                query = query.where(EmailIngestRun.started_at > succeeded_at)
            failing_since = await conn.scalar(query)
    return _judge_sync(ctx, check, succeeded_at, failing_since, last_error)


def _judge_sync(
    ctx: HealthContext,
    check: Check,
    succeeded_at: datetime | None,
    failing_since: datetime | None,
    last_error: str | None,
) -> CheckResult:
    now = ctx.now()
    age = round((now - succeeded_at).total_seconds(), 1) if succeeded_at is not None else None
    unit = "s" if age is not None else None
    if failing_since is not None:
        failing_for = (now - failing_since).total_seconds()
        if failing_for > ctx.settings.health_sync_failing_seconds:
            reason = f": {last_error[:200]}" if last_error else ""
            return check.result(
                ctx,
                Status.FAIL,
                observed_value=age,
                observed_unit=unit,
                output=f"syncs failing for {failing_for:.0f} s{reason}",
            )
    if succeeded_at is None or age is None:
        return check.result(ctx, Status.WARN, output="no successful sync yet")
    limit = STALE_INTERVALS * ctx.settings.sync_interval_seconds
    if age > limit:
        return check.result(
            ctx,
            Status.WARN,
            observed_value=age,
            observed_unit=unit,
            output=f"last successful sync {age:.0f} s ago (more than {limit:.0f} s)",
        )
    return check.result(ctx, Status.PASS, observed_value=age, observed_unit=unit)


def _free_bytes(path: Path) -> int:
    target = path if path.exists() else path.parent
    return shutil.disk_usage(target).free


async def _disk(ctx: HealthContext, check: Check) -> CheckResult:
    path = sqlite_file(ctx.settings.database_url)
    assert path is not None  # the check is only listed for a SQLite file
    free = await asyncio.to_thread(_free_bytes, path)
    fields: dict[str, object] = {"observed_value": free, "observed_unit": "bytes"}
    if free < ctx.settings.health_disk_fail_bytes:
        return check.result(ctx, Status.FAIL, output=f"{free} bytes free at {path}", **fields)
    if free < ctx.settings.health_disk_warn_bytes:
        return check.result(ctx, Status.WARN, output=f"{free} bytes free at {path}", **fields)
    return check.result(ctx, Status.PASS, **fields)


def checks_for(settings: Settings) -> list[Check]:
    """The checks that apply: Gmail only when configured, disk only for a SQLite file."""
    checks = [
        Check("database:responseTime", "datastore", "database", _database),
        Check("database:migrations", "datastore", "alembic", _migrations),
        Check("cache:status", "component", "cache", _cache),
    ]
    if settings.gmail_credentials is not None:
        checks.append(Check("gmail-sync:freshness", "component", settings.gmail_user, _gmail_sync))
    if sqlite_file(settings.database_url) is not None:
        checks.append(Check("disk:free", "system", "sqlite-volume", _disk))
    return checks


async def _bounded(ctx: HealthContext, check: Check, limit: float) -> CheckResult:
    try:
        async with asyncio.timeout(limit):
            return await check.run(ctx, check)
    except TimeoutError:
        return check.result(ctx, Status.FAIL, output=f"no answer within {limit:g} s")
    except Exception as exc:
        message = " ".join(str(exc).split())[:200]
        output = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        return check.result(ctx, Status.FAIL, output=output)


async def run_checks(ctx: HealthContext, checks: list[Check] | None = None) -> list[CheckResult]:
    """Run `checks` (default: those that apply) concurrently, each within the timeout."""
    timeout = ctx.settings.health_check_timeout
    selected = checks_for(ctx.settings) if checks is None else checks
    return list(await asyncio.gather(*(_bounded(ctx, check, timeout) for check in selected)))
