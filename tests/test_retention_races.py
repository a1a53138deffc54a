"""`db optimize`: retention racing the people who use the data (a lead a person takes back out
of spam while the cleanup is deleting old spam is kept; batches wider than one statement's ids
still delete exactly what the rule names), and the report's index list."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow.db import create_sessionmaker, transaction
from leadflow.leads.schemas import LeadUpdate
from leadflow.leads.service import update_lead
from leadflow.maintenance import retention
from leadflow.maintenance.retention import apply_retention
from leadflow.maintenance.stats import collect_report
from leadflow.models import LeadStatus
from leadflow.settings import Settings
from tests.lock_waits import wait_until_a_backend_waits_for_a_lock
from tests.test_db_optimize import NOW, _count, _lead, scratch

__all__ = ["scratch"]  # the fixture, used below by name


@pytest.mark.postgres_only
async def test_a_spam_lead_taken_back_while_the_cleanup_deletes_it_is_kept(
    scratch: AsyncEngine, scratch_settings: Settings
) -> None:
    rescued = await _lead(scratch, customer=None, status="spam", age_days=400)
    other = await _lead(scratch, customer=None, status="spam", age_days=400)
    sessionmaker = create_sessionmaker(scratch)
    async with transaction(sessionmaker) as person:
        # The person's change holds the lead's row until it commits; the cleanup started after
        # it read the lead as old spam, and must wait for the row.
        await update_lead(person, lead_id=rescued, data=LeadUpdate(status=LeadStatus.NEW))
        cleanup = asyncio.create_task(
            apply_retention(scratch, scratch_settings, now=NOW, dry_run=False)
        )
        async with sessionmaker() as watcher:
            await wait_until_a_backend_waits_for_a_lock(watcher)
    results = {r.rule: r for r in await cleanup}
    assert results["spam_leads"].status == "deleted"
    assert results["spam_leads"].rows == 1
    assert await _count(scratch, "leads", f"id = {rescued} AND status = 'new'") == 1
    assert await _count(scratch, "leads", f"id = {other}") == 0


async def test_a_batch_wider_than_one_statement_deletes_exactly_the_rule_s_rows(
    scratch: AsyncEngine, scratch_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "_IDS_PER_STATEMENT", 2)
    old = [await _lead(scratch, customer=None, status="spam", age_days=400) for _ in range(5)]
    kept = [
        await _lead(scratch, customer=None, status="spam", age_days=10),
        await _lead(scratch, customer=None, status="new", age_days=400),
    ]
    settings = scratch_settings.model_copy(update={"maintenance_delete_batch": 4})
    results = {r.rule: r for r in await apply_retention(scratch, settings, now=NOW, dry_run=False)}
    assert (results["spam_leads"].rows, results["spam_leads"].batches) == (5, 2)
    assert await _count(scratch, "leads", f"id IN ({', '.join(map(str, old))})") == 0
    assert await _count(scratch, "leads", f"id IN ({', '.join(map(str, kept))})") == 2


async def test_the_report_lists_each_index_once(scratch: AsyncEngine) -> None:
    """leads.duplicate_of_id references leads' own primary key: the foreign key names that index
    too, and the report listed pk_leads twice."""
    async with scratch.connect() as conn:
        report = await collect_report(conn)
    names = [(index.table, index.name) for index in report.indexes]
    assert names, "no indexes reported"
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    if scratch.dialect.name == "postgresql":  # SQLite's rowid tables have no primary key index
        assert ("leads", "pk_leads") in names
