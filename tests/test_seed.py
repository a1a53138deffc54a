"""`leadflow db seed`: the seeded data keeps the pipeline's invariants, and the seed is safe.

The oracles are the real pipeline code (matching, thread aggregates, the duplicate rule) and SQL
aggregates written here, never the seed's own bookkeeping.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from leadflow.db import create_engine, create_sessionmaker
from leadflow.leads.ingest import open_original
from leadflow.leads.response_time import percentile
from leadflow.leads.responses import refresh_leads
from leadflow.maintenance import seed as seed_module
from leadflow.maintenance import seed_write
from leadflow.maintenance.seed import NonSeedData, seed_database
from leadflow.maintenance.seed_plan import Scale
from leadflow.matching.service import match_threads
from leadflow.models import (
    Booking,
    Customer,
    EmailMessage,
    EmailThread,
    Lead,
)
from leadflow.settings import Settings
from leadflow.sync.thread_aggregates import recompute_threads
from tests.seeded_fixtures import TINY, NoProgress, tiny_plan


@pytest.fixture
async def seeded(seeded_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(seeded_settings, application_name="leadflow-tests")
    yield engine
    await engine.dispose()


@pytest.fixture
async def rolled_back(seeded: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session on the seeded database whose changes are thrown away."""
    async with create_sessionmaker(seeded)() as session:
        yield session
        await session.rollback()


async def test_it_writes_the_scale_it_was_asked_for(rolled_back: AsyncSession) -> None:
    async def count(model: Any) -> int:
        return int((await rolled_back.execute(select(func.count(model.id)))).scalar_one())

    assert await count(Customer) == TINY.customers
    assert await count(Lead) == TINY.leads
    assert await count(EmailThread) == TINY.threads
    assert await count(Booking) == TINY.bookings
    messages = await count(EmailMessage)
    assert 0.85 * TINY.messages <= messages <= 1.15 * TINY.messages


async def test_the_matching_rules_change_nothing_it_matched(
    rolled_back: AsyncSession, seeded_settings: Settings
) -> None:
    report = await match_threads(rolled_back, settings=seeded_settings, only_unmatched=False)
    assert report.changed == 0
    # Every rule and the ambiguous case occur, so the check above covers each of them.
    assert {"lead", "exact_email", "reply_chain", "phone", "domain"} <= set(report.matched_by_rule)
    assert report.ambiguous > 0
    assert report.unmatched > report.ambiguous


async def test_first_response_times_are_what_the_services_compute(
    rolled_back: AsyncSession,
) -> None:
    ids = list((await rolled_back.execute(select(Lead.id))).scalars())
    assert await refresh_leads(rolled_back, ids) == 0
    answered = (await rolled_back.execute(select(func.count(Lead.first_response_at)))).scalar_one()
    # Most leads got an answer, not all: the stats and the waiting list both have data.
    assert 0.5 * len(ids) < answered < len(ids)
    rows = await rolled_back.execute(
        select(Lead.received_at, Lead.first_response_at).where(Lead.first_response_at.is_not(None))
    )
    minutes = [(answer - received).total_seconds() / 60 for received, answer in rows]
    # Answers mostly come within the hour or so a lead platform expects, with a long tail.
    median = percentile(minutes, 0.5)
    assert median is not None
    assert 15 < median < 180


async def test_thread_aggregates_are_what_the_sync_computes(rolled_back: AsyncSession) -> None:
    columns = (
        EmailThread.id,
        EmailThread.message_count,
        EmailThread.last_message_at,
        EmailThread.participants,
        EmailThread.labels,
        EmailThread.subject,
        EmailThread.snippet,
        EmailThread.updated_at,
    )
    before = (await rolled_back.execute(select(*columns).order_by(EmailThread.id))).all()
    await recompute_threads(rolled_back, thread_ids=[row.id for row in before])
    after = (await rolled_back.execute(select(*columns).order_by(EmailThread.id))).all()
    assert after == before  # recompute writes (and stamps updated_at) only what differs


async def test_counters_match_the_rows(rolled_back: AsyncSession) -> None:
    leads = dict(
        (
            await rolled_back.execute(text("SELECT customer_id, count(*) FROM leads GROUP BY 1"))
        ).all()
    )
    bookings = dict(
        (
            await rolled_back.execute(
                text(
                    "SELECT customer_id, count(*) FROM bookings "
                    "WHERE status <> 'cancelled' GROUP BY 1"
                )
            )
        ).all()
    )
    last_thread = dict(
        (
            await rolled_back.execute(
                select(EmailThread.customer_id, func.max(EmailThread.last_message_at)).group_by(
                    EmailThread.customer_id
                )
            )
        ).all()
    )
    last_lead = dict(
        (
            await rolled_back.execute(
                select(Lead.customer_id, func.max(Lead.received_at)).group_by(Lead.customer_id)
            )
        ).all()
    )
    customers = (
        await rolled_back.execute(
            select(
                Customer.id, Customer.total_leads, Customer.total_bookings, Customer.last_contact_at
            )
        )
    ).all()
    for cid, total_leads, total_bookings, last_contact in customers:
        assert total_leads == leads.get(cid, 0)
        assert total_bookings == bookings.get(cid, 0)
        candidates = [t for t in (last_thread.get(cid), last_lead.get(cid)) if t is not None]
        assert last_contact == max(candidates)


async def test_duplicates_follow_the_ingest_rule(rolled_back: AsyncSession) -> None:
    leads = (
        await rolled_back.execute(
            select(Lead.id, Lead.email, Lead.received_at, Lead.duplicate_of_id).order_by(Lead.id)
        )
    ).all()
    later_of: dict[str, list[int]] = {}
    for lead in leads:
        later_of.setdefault(lead.email, []).append(lead.id)
    duplicates = 0
    for lead in leads:
        # As at ingest: the lead itself and those that arrived after it do not count as earlier.
        later = [i for i in later_of[lead.email] if i >= lead.id]
        original = await open_original(
            rolled_back, email=lead.email, received_at=lead.received_at, exclude_ids=later
        )
        assert lead.duplicate_of_id == original, lead
        duplicates += original is not None
    assert 0 < duplicates < len(leads) // 2


async def test_lead_emails_are_the_first_message_of_their_thread(rolled_back: AsyncSession) -> None:
    rows = (
        await rolled_back.execute(
            select(Lead.gmail_message_id, EmailMessage.gmail_message_id, EmailThread.customer_id)
            .join(EmailThread, EmailThread.gmail_thread_id == Lead.gmail_thread_id)
            .join(EmailMessage, EmailMessage.gmail_message_id == Lead.gmail_message_id)
            .where(Lead.customer_id == EmailThread.customer_id)
        )
    ).all()
    assert len(rows) == TINY.leads


async def test_active_bookings_of_a_team_never_overlap(rolled_back: AsyncSession) -> None:
    overlapping = (
        await rolled_back.execute(
            text(
                "SELECT count(*) FROM bookings a JOIN bookings b ON a.team = b.team "
                "AND a.id < b.id AND a.start_time < b.end_time AND b.start_time < a.end_time "
                "WHERE a.status IN ('scheduled', 'confirmed') "
                "AND b.status IN ('scheduled', 'confirmed')"
            )
        )
    ).scalar_one()
    foreign_leads = (
        await rolled_back.execute(
            select(func.count())
            .select_from(Booking)
            .join(Lead, Lead.id == Booking.lead_id)
            .where(Lead.customer_id != Booking.customer_id)
        )
    ).scalar_one()
    statuses = Counter((await rolled_back.execute(select(Booking.status))).scalars().all())
    assert overlapping == 0
    assert foreign_leads == 0
    assert {"completed", "scheduled", "cancelled"} <= set(statuses)


async def test_new_rows_get_ids_after_the_seeded_ones(rolled_back: AsyncSession) -> None:
    customer = Customer(name="After Seed", email="after.seed@example.org")
    rolled_back.add(customer)
    await rolled_back.flush()
    assert customer.id == TINY.customers + 1


async def _dump(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            dump = {}
            for table in ("customers", "leads", "email_threads", "email_messages", "bookings"):
                # Every column but updated_at of customers: the counter recount stamps it.
                skip = {"updated_at"} if table == "customers" else set()
                probe = await conn.execute(text(f"SELECT * FROM {table} LIMIT 0"))  # noqa: S608
                cols = [c for c in probe.keys() if c not in skip]  # noqa: SIM118
                quoted = ", ".join(f'"{c}"' for c in cols)
                rows = await conn.execute(
                    text(f"SELECT {quoted} FROM {table} ORDER BY id")  # noqa: S608
                )
                dump[table] = [tuple(row) for row in rows]
            return dump
    finally:
        await engine.dispose()


async def test_the_same_seed_writes_the_same_data(scratch_settings: Settings) -> None:
    small = Scale("tinier", 40, 120, 300, 900, 100, ingest_days=3)
    await seed_database(scratch_settings, tiny_plan(7, small), force=False, progress=NoProgress())
    first = await _dump(scratch_settings)
    await seed_database(scratch_settings, tiny_plan(7, small), force=False, progress=NoProgress())
    assert await _dump(scratch_settings) == first


def test_another_seed_makes_other_data() -> None:
    from leadflow.maintenance.seed_people import make_customers

    assert make_customers(tiny_plan(7)) != make_customers(tiny_plan(8))
    assert make_customers(tiny_plan(7)) == make_customers(tiny_plan(7))


async def test_it_refuses_a_database_with_data_it_did_not_write(
    scratch_settings: Settings,
) -> None:
    engine = create_engine(scratch_settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO customers (name, email, status, tags, total_leads, "
                    "total_bookings) VALUES ('Real Kunde', 'real@kunde.dk', 'active', '[]', 0, 0)"
                )
            )
        plan = tiny_plan(scale=Scale("tinier", 20, 40, 80, 200, 10, ingest_days=1))
        with pytest.raises(NonSeedData) as refused:
            await seed_database(scratch_settings, plan, force=False, progress=NoProgress())
        assert refused.value.found == {"customers": 1}
        async with engine.connect() as conn:
            still = (await conn.execute(text("SELECT email FROM customers"))).scalars().all()
        assert still == ["real@kunde.dk"]
        await seed_database(scratch_settings, plan, force=True, progress=NoProgress())
        async with engine.connect() as conn:
            emails = (await conn.execute(text("SELECT email FROM customers"))).scalars().all()
        assert len(emails) == 20
        assert "real@kunde.dk" not in emails
    finally:
        await engine.dispose()


async def test_a_seed_that_fails_half_way_leaves_the_database_as_it_was(
    scratch_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seed_module, "THREAD_CHUNK", 50)
    plan = tiny_plan(scale=Scale("tinier", 30, 60, 300, 900, 20, ingest_days=1))
    await seed_database(scratch_settings, plan, force=False, progress=NoProgress())
    before = await _dump(scratch_settings)
    written = 0
    original = seed_write.BulkWriter.write_prepared

    async def failing(self: seed_write.BulkWriter, prepared: seed_write.Prepared) -> None:
        nonlocal written
        if prepared.table.name == "email_messages":
            written += 1
            if written == 2:  # the second chunk of messages: threads and messages are half in
                raise ConnectionResetError("connection lost during the load")
        await original(self, prepared)

    monkeypatch.setattr(seed_write.BulkWriter, "write_prepared", failing)
    other = tiny_plan(seed=2, scale=plan.scale)
    with pytest.raises(ConnectionResetError):
        await seed_database(scratch_settings, other, force=False, progress=NoProgress())
    monkeypatch.setattr(seed_write.BulkWriter, "write_prepared", original)
    assert await _dump(scratch_settings) == before
    engine = create_engine(scratch_settings)
    try:
        async with engine.connect() as conn:
            indexes = await conn.run_sync(
                lambda c: {i["name"] for i in inspect(c).get_indexes("email_messages")}
            )
    finally:
        await engine.dispose()
    assert "ix_email_messages_thread_id_sent_at" in indexes
