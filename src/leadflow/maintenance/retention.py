"""Retention: delete rows by age, never by count, in batches of their own transactions.

Three rules, each configurable and off at 0 days:
- sync runs (`email_ingest_runs`) older than N days, always keeping the latest K runs of every
  mailbox and never a running one;
- leads marked spam, received and last changed more than N days ago, unless a lead that is not
  spam points at them as its original (a deleted original would turn its duplicates into
  originals). Their customers' counters are recounted in the same transaction;
- monitoring events (`uptime_events`, by `occurred_at`) older than N days; a database not yet
  migrated that far has no such table, and the rule then reports itself skipped.
Customer mail (threads and messages) is never deleted here. Each batch (default 5,000 rows)
commits on its own, so a long cleanup does not hold locks or one huge transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, delete, func, inspect, not_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import aliased

from leadflow.customers.counters import refresh_counters
from leadflow.db import create_sessionmaker, transaction
from leadflow.models import EmailIngestRun, IngestStatus, Lead, LeadStatus
from leadflow.settings import Settings

# UptimeRobot's alerts as stored by the monitoring feature (`models.monitoring.UptimeEvent`).
MONITORING_TABLE = "uptime_events"
# The event time, by the first of these names the table has.
MONITORING_TIME_COLUMNS = ("occurred_at", "received_at", "created_at")


class RetentionResult(BaseModel):
    rule: str
    table: str
    older_than_days: int
    cutoff: datetime | None
    status: Literal["deleted", "dry_run", "skipped", "disabled", "failed"]
    rows: int  # deleted, or (dry run) that would be deleted
    batches: int
    note: str | None = None


@dataclass(frozen=True)
class _Rule:
    name: str
    table: str
    days: int


async def apply_retention(
    engine: AsyncEngine, settings: Settings, *, now: datetime, dry_run: bool
) -> list[RetentionResult]:
    """Run every rule (or, with `dry_run`, count what each would delete)."""
    batch = settings.maintenance_delete_batch
    runs = _Rule("ingest_runs", "email_ingest_runs", settings.retention_ingest_runs_days)
    spam = _Rule("spam_leads", "leads", settings.retention_spam_leads_days)
    keep = settings.retention_ingest_runs_keep
    steps: list[tuple[_Rule, Callable[[], Awaitable[RetentionResult]]]] = [
        (
            runs,
            lambda: _run(
                engine, runs, now, dry_run, batch, lambda c: _ingest_runs_where(c, keep), None
            ),
        ),
        (spam, lambda: _run(engine, spam, now, dry_run, batch, _spam_leads_where, _recount)),
        (
            _Rule("monitoring_events", MONITORING_TABLE, settings.retention_monitoring_events_days),
            lambda: _monitoring(engine, settings, now=now, dry_run=dry_run),
        ),
    ]
    results = []
    for rule, step in steps:
        # One rule failing (a timeout, a lock) must not hide what the others did.
        try:
            results.append(await step())
        except Exception as exc:
            results.append(_failed(rule, exc))
    return results


def _failed(rule: _Rule, exc: Exception) -> RetentionResult:
    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
    return RetentionResult(
        rule=rule.name,
        table=rule.table,
        older_than_days=rule.days,
        cutoff=None,
        status="failed",
        rows=0,
        batches=0,
        note=f"{type(exc).__name__}: {reason} (batches committed before it stay deleted)",
    )


Where = Callable[[datetime], ColumnElement[bool]]
AfterDelete = Callable[[AsyncSession, list[Any]], Awaitable[None]]


async def _run(
    engine: AsyncEngine,
    rule: _Rule,
    now: datetime,
    dry_run: bool,
    batch: int,
    where: Where,
    after: AfterDelete | None,
    *,
    table: Any = None,
    note: str | None = None,
) -> RetentionResult:
    if rule.days <= 0:
        return RetentionResult(
            rule=rule.name,
            table=rule.table,
            older_than_days=0,
            cutoff=None,
            status="disabled",
            rows=0,
            batches=0,
            note="0 days: this rule keeps everything",
        )
    target = table if table is not None else _TABLES[rule.table]
    cutoff = now - timedelta(days=rule.days)
    condition = where(cutoff)
    sessionmaker = create_sessionmaker(engine)
    result = RetentionResult(
        rule=rule.name,
        table=rule.table,
        older_than_days=rule.days,
        cutoff=cutoff,
        status="dry_run" if dry_run else "deleted",
        rows=0,
        batches=0,
        note=note,
    )
    if dry_run:
        async with sessionmaker() as session:
            count = select(func.count()).select_from(target).where(condition)
            result.rows = int((await session.execute(count)).scalar_one())
        return result
    returning = [target.c.id] + ([target.c.customer_id] if after is not None else [])
    while True:
        async with transaction(sessionmaker) as session:
            # The batch is locked first, then deleted by a statement of its own that asks the
            # rule again. On PostgreSQL (read committed) that statement sees what committed
            # while the locks were awaited — a spam lead moved back to new, a lead now pointing
            # at one as its original — and nothing can change a locked row until this commit.
            # One DELETE with the rule in a subquery would delete those rows all the same.
            picked = (
                select(target.c.id)
                .where(condition)
                .order_by(target.c.id)
                .limit(batch)
                .with_for_update(of=target)
            )
            ids = list((await session.execute(picked)).scalars())
            rows: list[Any] = []
            for start in range(0, len(ids), _IDS_PER_STATEMENT):
                chunk = ids[start : start + _IDS_PER_STATEMENT]
                stmt = delete(target).where(target.c.id.in_(chunk), condition)
                rows += (await session.execute(stmt.returning(*returning))).all()
            if rows and after is not None:
                await after(session, [row[1] for row in rows])
        if not ids:
            return result
        if rows:
            result.rows += len(rows)
            result.batches += 1


# Ids bound per DELETE: well under asyncpg's 32,767 parameters and SQLite's 32,766 variables.
_IDS_PER_STATEMENT = 5_000

_TABLES: dict[str, Any] = {
    "email_ingest_runs": EmailIngestRun.__table__,
    "leads": Lead.__table__,
}


def _ingest_runs_where(cutoff: datetime, keep: int) -> ColumnElement[bool]:
    ranked = select(
        EmailIngestRun.id,
        func.row_number()
        .over(
            partition_by=EmailIngestRun.mailbox_id,
            order_by=(EmailIngestRun.started_at.desc(), EmailIngestRun.id.desc()),
        )
        .label("position"),
    ).subquery()
    # The latest `keep` runs of each mailbox: a handful of ids, whatever the table's size.
    latest = select(ranked.c.id).where(ranked.c.position <= keep)
    return and_(
        EmailIngestRun.started_at < cutoff,
        EmailIngestRun.status != IngestStatus.RUNNING,
        EmailIngestRun.id.not_in(latest),
    )


def _spam_leads_where(cutoff: datetime) -> ColumnElement[bool]:
    other = aliased(Lead)
    pointed_at = (
        select(other.id)
        .where(other.duplicate_of_id == Lead.id, other.status != LeadStatus.SPAM)
        .exists()
    )
    return and_(
        Lead.status == LeadStatus.SPAM,
        func.coalesce(Lead.received_at, Lead.created_at) < cutoff,
        Lead.updated_at < cutoff,
        not_(pointed_at),
    )


async def _recount(session: AsyncSession, customer_ids: list[Any]) -> None:
    await refresh_counters(session, customer_ids)


async def _monitoring(
    engine: AsyncEngine, settings: Settings, *, now: datetime, dry_run: bool
) -> RetentionResult:
    rule = _Rule("monitoring_events", MONITORING_TABLE, settings.retention_monitoring_events_days)
    async with engine.connect() as conn:
        table, column = await _monitoring_table(conn)
    reason = None
    if table is None:
        reason = f"table {MONITORING_TABLE} does not exist (run leadflow db upgrade)"
    elif column is None:
        reason = f"{MONITORING_TABLE} has none of the time columns {MONITORING_TIME_COLUMNS}"
    elif "id" not in table.c:
        reason = f"{MONITORING_TABLE} has no id column to delete in batches by"
    if reason is not None:
        return RetentionResult(
            rule=rule.name,
            table=rule.table,
            older_than_days=rule.days,
            cutoff=None,
            status="skipped",
            rows=0,
            batches=0,
            note=reason,
        )
    time_column = table.c[column]
    return await _run(
        engine,
        rule,
        now,
        dry_run,
        settings.maintenance_delete_batch,
        lambda cutoff: time_column < cutoff,
        None,
        table=table,
        note=f"by {column}",
    )


async def _monitoring_table(conn: AsyncConnection) -> tuple[Any, str | None]:
    """The reflected monitoring table and its time column, or (None, None) when absent."""
    from sqlalchemy import MetaData, Table

    def reflect(sync_conn: Any) -> tuple[Any, str | None]:
        inspector = inspect(sync_conn)
        if not inspector.has_table(MONITORING_TABLE):
            return None, None
        table = Table(MONITORING_TABLE, MetaData(), autoload_with=sync_conn)
        column = next((c for c in MONITORING_TIME_COLUMNS if c in table.c), None)
        return table, column

    return await conn.run_sync(reflect)
