"""`leadflow db optimize`: index audit and repair, retention by age, table maintenance.

Each test has a database of its own (`scratch_settings`), since these tests drop indexes and
delete rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow.db import create_engine
from leadflow.maintenance.optimize import OptimizeOptions, OptimizeResult, run_optimize
from leadflow.maintenance.optimize_vacuum import needs_vacuum
from leadflow.models import (
    Customer,
    EmailIngestRun,
    Lead,
    Mailbox,
    UptimeEvent,
    UptimeMonitor,
    utcnow,
)
from leadflow.settings import Settings

NOW = utcnow()


@pytest.fixture
async def scratch(scratch_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(scratch_settings, application_name="leadflow-tests")
    yield engine
    await engine.dispose()


async def optimize(engine: AsyncEngine, settings: Settings, **options: Any) -> OptimizeResult:
    options.setdefault("now", NOW)
    return await run_optimize(engine, settings, OptimizeOptions(**options))


async def sql(engine: AsyncEngine, *statements: str, params: dict[str, Any] | None = None) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement), params or {})


async def index_names(engine: AsyncEngine, table: str) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: {i["name"] for i in inspect(c).get_indexes(table)})


def findings(result: OptimizeResult, kind: str) -> dict[str, Any]:
    return {f.index: f for f in result.indexes if f.kind == kind}


async def test_it_builds_a_missing_index_and_a_second_run_changes_nothing(
    scratch: AsyncEngine, scratch_settings: Settings
) -> None:
    await sql(scratch, "DROP INDEX ix_leads_email")
    assert "ix_leads_email" not in await index_names(scratch, "leads")

    first = await optimize(scratch, scratch_settings)
    assert findings(first, "missing")["ix_leads_email"].action == "created"
    assert "ix_leads_email" in await index_names(scratch, "leads")
    assert first.errors == []

    second = await optimize(scratch, scratch_settings)
    assert [f for f in second.indexes if f.action is not None] == []
    assert all(r.rows == 0 for r in second.retention)


async def test_a_dry_run_changes_nothing(scratch: AsyncEngine, scratch_settings: Settings) -> None:
    await sql(scratch, "DROP INDEX ix_customers_name")
    await _old_runs(scratch, mailbox="dry@rendetalje.dk", old=60, recent=0)

    result = await optimize(scratch, scratch_settings, dry_run=True)

    assert findings(result, "missing")["ix_customers_name"].action == "would create"
    assert "ix_customers_name" not in await index_names(scratch, "customers")
    runs = {r.rule: r for r in result.retention}["ingest_runs"]
    assert (runs.status, runs.rows) == ("dry_run", 10)  # 60 old, the latest 50 kept
    assert all(m.action.startswith("would ") for m in result.maintenance)
    assert await _count(scratch, "email_ingest_runs") == 60


@pytest.mark.postgres_only
async def test_it_rebuilds_an_invalid_index(
    scratch: AsyncEngine, scratch_settings: Settings
) -> None:
    await sql(
        scratch,
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ix_leads_email'::regclass",
    )
    result = await optimize(scratch, scratch_settings)
    assert findings(result, "invalid")["ix_leads_email"].action == "rebuilt"
    async with scratch.connect() as conn:
        valid = await conn.execute(
            text("SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_leads_email'::regclass")
        )
        assert valid.scalar_one() is True


@pytest.mark.postgres_only
async def test_a_unique_constraint_that_cannot_be_built_is_reported_and_leaves_nothing_behind(
    scratch: AsyncEngine, scratch_settings: Settings
) -> None:
    await sql(
        scratch,
        "ALTER TABLE leads DROP CONSTRAINT uq_leads_mailbox_id_gmail_message_id",
        "INSERT INTO mailboxes (id, email, provider, created_at) "
        "VALUES (1, 'a@rendetalje.dk', 'gmail', now())",
        "INSERT INTO leads (source, status, needs_review, mailbox_id, gmail_message_id) "
        "VALUES ('Website', 'new', false, 1, 'same'), ('Website', 'new', false, 1, 'same')",
    )
    result = await optimize(scratch, scratch_settings)
    missing = findings(result, "missing")["uq_leads_mailbox_id_gmail_message_id"]
    assert missing.action == "create failed"
    assert missing.error is not None
    assert "could not create unique index" in missing.error
    assert "is duplicated" in missing.error
    # The failed concurrent build's INVALID index is gone again; the other steps still ran.
    assert "uq_leads_mailbox_id_gmail_message_id" not in await index_names(scratch, "leads")
    assert result.maintenance
    assert result.report.tables


@pytest.mark.postgres_only
async def test_unused_indexes_are_dropped_only_when_asked_and_only_undeclared_ones(
    scratch: AsyncEngine, scratch_settings: Settings
) -> None:
    await sql(
        scratch,
        "CREATE INDEX ix_extra_city ON customers (city)",
        "CREATE INDEX ix_extra_email ON leads (email)",
    )
    reported = await optimize(scratch, scratch_settings, unused_min_bytes=0)
    unused = findings(reported, "unused")
    assert unused["ix_extra_city"].declared is False
    assert unused["ix_customers_phone"].declared is True
    assert findings(reported, "undeclared").keys() >= {"ix_extra_city", "ix_extra_email"}
    assert "ix_leads_email" in findings(reported, "duplicate")["ix_extra_email"].detail
    assert await index_names(scratch, "customers") >= {"ix_extra_city", "ix_customers_phone"}

    dropped = await optimize(scratch, scratch_settings, unused_min_bytes=0, drop_unused=True)
    assert findings(dropped, "unused")["ix_extra_city"].action == "dropped"
    assert findings(dropped, "unused")["ix_customers_phone"].action is None
    names = await index_names(scratch, "customers")
    assert "ix_extra_city" not in names
    assert "ix_customers_phone" in names


async def test_a_duplicate_index_is_reported_not_dropped(
    scratch: AsyncEngine, scratch_settings: Settings
) -> None:
    await sql(scratch, "CREATE INDEX ix_dup_email ON leads (email)")
    result = await optimize(scratch, scratch_settings, drop_unused=True)
    duplicate = findings(result, "duplicate")
    assert list(duplicate) == ["ix_dup_email"]  # the declared one is the one to keep
    assert "ix_leads_email" in duplicate["ix_dup_email"].detail
    assert duplicate["ix_dup_email"].action is None
    assert {"ix_dup_email", "ix_leads_email"} <= await index_names(scratch, "leads")


async def _count(engine: AsyncEngine, table: str, where: str = "true") -> int:
    async with engine.connect() as conn:
        query = text(f"SELECT count(*) FROM {table} WHERE {where}")  # noqa: S608
        return int((await conn.execute(query)).scalar_one())


async def _mailbox(engine: AsyncEngine, email: str) -> int:
    async with engine.begin() as conn:
        row = await conn.execute(
            insert(Mailbox.__table__)
            .values(email=email, provider="gmail", created_at=NOW)
            .returning(Mailbox.__table__.c.id)
        )
        return int(row.scalar_one())


async def _old_runs(
    engine: AsyncEngine, *, mailbox: str, old: int, recent: int, status: str = "completed"
) -> int:
    """`old` runs from 100 days ago on (one a day older each), `recent` from the last days."""
    mailbox_id = await _mailbox(engine, mailbox)
    days = [100 + i for i in range(old)] + [i + 1 for i in range(recent)]
    rows = [
        {
            "mailbox_id": mailbox_id,
            "mode": "incremental",
            "started_at": NOW - timedelta(days=day),
            "status": status,
            "total_emails": 0,
            "new_emails": 0,
            "updated_emails": 0,
            "errors": 0,
            "error_log": [],
            "api_calls": 0,
            "retries": 0,
        }
        for day in days
    ]
    if rows:
        async with engine.begin() as conn:
            await conn.execute(insert(EmailIngestRun.__table__), rows)
    return mailbox_id


async def test_sync_runs_go_by_age_in_batches_keeping_each_mailboxs_latest(
    scratch: AsyncEngine, scratch_settings: Settings
) -> None:
    busy = await _old_runs(scratch, mailbox="busy@rendetalje.dk", old=60, recent=10)
    quiet = await _old_runs(scratch, mailbox="quiet@rendetalje.dk", old=5, recent=0)
    running = await _old_runs(
        scratch, mailbox="stuck@rendetalje.dk", old=60, recent=0, status="running"
    )
    settings = scratch_settings.model_copy(update={"maintenance_delete_batch": 7})

    result = await optimize(scratch, settings)

    runs = {r.rule: r for r in result.retention}["ingest_runs"]
    # busy: 70 runs, the latest 50 kept (10 recent + 40 old), 20 old ones deleted.
    assert (runs.status, runs.rows, runs.batches) == ("deleted", 20, 3)
    assert await _count(scratch, "email_ingest_runs", f"mailbox_id = {busy}") == 50
    assert await _count(scratch, "email_ingest_runs", f"mailbox_id = {quiet}") == 5
    assert await _count(scratch, "email_ingest_runs", f"mailbox_id = {running}") == 60


async def _lead(
    engine: AsyncEngine,
    *,
    customer: int | None,
    status: str,
    age_days: int,
    changed_days_ago: int | None = None,
    dup: int | None = None,
) -> int:
    at = NOW - timedelta(days=age_days)
    changed = NOW - timedelta(days=age_days if changed_days_ago is None else changed_days_ago)
    table = Lead.__table__
    async with engine.begin() as conn:
        row = await conn.execute(
            insert(table)
            .values(
                customer_id=customer,
                source="Website",
                status=status,
                needs_review=False,
                received_at=at,
                created_at=at,
                updated_at=changed,
                duplicate_of_id=dup,
            )
            .returning(table.c.id)
        )
        return int(row.scalar_one())


async def test_old_spam_leads_go_and_their_customers_counters_follow(
    scratch: AsyncEngine, scratch_settings: Settings
) -> None:
    table = Customer.__table__
    async with scratch.begin() as conn:
        customer = (
            await conn.execute(
                insert(table)
                .values(name="K", email="k@example.org", status="active", tags=[], total_leads=4)
                .returning(table.c.id)
            )
        ).scalar_one()
    old_spam = await _lead(scratch, customer=customer, status="spam", age_days=200)
    await _lead(scratch, customer=customer, status="spam", age_days=20)
    await _lead(scratch, customer=customer, status="spam", age_days=200, changed_days_ago=3)
    original = await _lead(scratch, customer=None, status="spam", age_days=300)
    await _lead(scratch, customer=None, status="new", age_days=290, dup=original)

    result = await optimize(scratch, scratch_settings)

    spam = {r.rule: r for r in result.retention}["spam_leads"]
    assert spam.rows == 1
    assert await _count(scratch, "leads", f"id = {old_spam}") == 0
    assert await _count(scratch, "leads", f"id = {original}") == 1  # a kept lead points at it
    assert await _count(scratch, "customers", f"id = {customer} AND total_leads = 2") == 1


async def test_old_monitoring_events_go_and_the_rule_skips_a_database_without_them(
    scratch: AsyncEngine, scratch_settings: Settings
) -> None:
    async with scratch.begin() as conn:
        monitor = (
            await conn.execute(
                insert(UptimeMonitor.__table__)
                .values(external_id="777", state="up", first_seen_at=NOW, created_at=NOW)
                .returning(UptimeMonitor.__table__.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(UptimeEvent.__table__),
            [
                {
                    "monitor_id": monitor,
                    "alert_type": 1 + days % 2,
                    "occurred_at": NOW - timedelta(days=days),
                    "received_at": NOW,
                    "payload": {},
                }
                for days in (500, 450, 10)
            ],
        )
    present = {r.rule: r for r in (await optimize(scratch, scratch_settings)).retention}
    events = present["monitoring_events"]
    assert (events.status, events.rows, events.table) == ("deleted", 2, "uptime_events")
    assert await _count(scratch, "uptime_events") == 1
    assert await _count(scratch, "uptime_monitors") == 1

    await sql(scratch, "DROP TABLE uptime_events")
    absent = {r.rule: r for r in (await optimize(scratch, scratch_settings)).retention}
    assert absent["monitoring_events"].status == "skipped"
    assert "does not exist" in (absent["monitoring_events"].note or "")


async def test_a_rule_set_to_zero_days_keeps_everything(
    scratch: AsyncEngine, scratch_settings: Settings
) -> None:
    await _old_runs(scratch, mailbox="keep@rendetalje.dk", old=70, recent=0)
    settings = scratch_settings.model_copy(update={"retention_ingest_runs_days": 0})
    result = await optimize(scratch, settings)
    assert {r.rule: r for r in result.retention}["ingest_runs"].status == "disabled"
    assert await _count(scratch, "email_ingest_runs") == 70


async def test_no_cleanup_skips_retention(scratch: AsyncEngine, scratch_settings: Settings) -> None:
    await _old_runs(scratch, mailbox="keep@rendetalje.dk", old=70, recent=0)
    result = await optimize(scratch, scratch_settings, cleanup=False)
    assert result.retention == []
    assert await _count(scratch, "email_ingest_runs") == 70


def test_vacuum_is_for_tables_with_many_dead_rows() -> None:
    assert needs_vacuum(900, 100, 0.1)
    assert not needs_vacuum(1_000, 99, 0.1)
    assert not needs_vacuum(10, 40, 0.1)  # too few rows to bother: autovacuum's business
    assert not needs_vacuum(0, 0, 0.1)


@pytest.mark.postgres_only
async def test_a_table_full_of_dead_rows_is_vacuumed_the_others_analysed(
    scratch: AsyncEngine, scratch_settings: Settings
) -> None:
    await _old_runs(scratch, mailbox="v@rendetalje.dk", old=0, recent=400)
    async with scratch.begin() as conn:
        await conn.execute(text("DELETE FROM email_ingest_runs WHERE id % 2 = 0"))
    async with scratch.connect() as conn:
        await conn.execute(text("SELECT pg_stat_force_next_flush()"))
    result = await optimize(scratch, scratch_settings, cleanup=False)
    actions = {m.table: m.action for m in result.maintenance}
    assert actions["email_ingest_runs"] == "vacuum_analyze"
    assert actions["customers"] == "analyze"


@pytest.mark.sqlite_only
async def test_sqlite_is_analysed_and_optimised(
    scratch: AsyncEngine, scratch_settings: Settings
) -> None:
    result = await optimize(scratch, scratch_settings)
    assert [m.action for m in result.maintenance] == ["sqlite_analyze"]
    assert result.suggestions.method == "none"
    assert result.report.dialect == "sqlite"
    assert await _count(scratch, "sqlite_master", "name = 'sqlite_stat1'") == 1


@pytest.mark.postgres_only
async def test_a_rule_that_fails_is_reported_and_the_others_still_run(
    scratch: AsyncEngine, scratch_settings: Settings
) -> None:
    await _old_runs(scratch, mailbox="busy@rendetalje.dk", old=60, recent=0)
    await _lead(scratch, customer=None, status="spam", age_days=400)
    impatient = scratch_settings.model_copy(update={"db_statement_timeout": 1})
    engine = create_engine(impatient, application_name="leadflow-tests")
    try:
        async with scratch.connect() as blocker:
            # Another transaction holds the leads table against writers (and ANALYZE); readers
            # still get in. The spam rule's delete and the table's ANALYZE time out.
            await blocker.execute(text("LOCK TABLE leads IN SHARE MODE"))
            result = await run_optimize(
                engine, impatient, OptimizeOptions(now=NOW, drop_unused=False)
            )
            await blocker.rollback()
    finally:
        await engine.dispose()
    rules = {r.rule: r for r in result.retention}
    assert (rules["ingest_runs"].status, rules["ingest_runs"].rows) == ("deleted", 10)
    assert rules["spam_leads"].status == "failed"
    assert "timeout" in (rules["spam_leads"].note or "").lower()
    assert (rules["monitoring_events"].status, rules["monitoring_events"].rows) == ("deleted", 0)
    actions = {m.table: m.action for m in result.maintenance}
    assert actions["leads"].startswith("analyze failed")
    assert actions["customers"] == "analyze"
    assert result.report is not None
    assert await _count(scratch, "leads") == 1
