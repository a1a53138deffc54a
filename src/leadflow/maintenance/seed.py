"""`leadflow db seed`: a database of realistic size, built in one transaction.

The seed refuses a database holding anything it did not write itself (another mailbox, a
customer without the seed tag, a lead from outside the seed mailbox) unless forced; then it
empties leadflow's tables and writes customers, threads with their messages, leads, bookings and
sync runs with bulk writes (`seed_write`). The counters are recounted by `customers.counters`, the
same mechanism every writer uses. Everything happens in one transaction: a failed or interrupted
seed leaves the database as it was. Afterwards the tables are analysed (PostgreSQL: VACUUM
ANALYZE, which also sets the visibility map that index-only scans rely on).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Table, Text, cast, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from leadflow.customers.counters import refresh_counters
from leadflow.db import create_engine, create_sessionmaker, transaction
from leadflow.leads.response_time import LeadFacts, MessageFacts, first_responses
from leadflow.maintenance.schema import upgrade_database
from leadflow.maintenance.seed_bookings import booking_rows, ingest_run_rows
from leadflow.maintenance.seed_mail import MailBuilder
from leadflow.maintenance.seed_people import (
    SeedCustomer,
    SeedLead,
    customer_rows,
    lead_rows,
    make_customers,
    make_leads,
)
from leadflow.maintenance.seed_plan import SEED_MAILBOX, SEED_MAILBOX_ID, SEED_TAG, SeedPlan
from leadflow.maintenance.seed_threads import ThreadPlan, plan_threads
from leadflow.maintenance.seed_write import BulkWriter, Prepared
from leadflow.models import (
    Booking,
    Customer,
    EmailIngestRun,
    EmailMessage,
    EmailThread,
    Lead,
    Mailbox,
    ManualThreadDecision,
)
from leadflow.settings import Settings

THREAD_CHUNK = 2_000
# The tables the seed owns, children first (the order they are emptied in).
SEED_TABLES: tuple[Table, ...] = tuple(
    model.__table__  # type: ignore[misc]
    for model in (
        EmailMessage,
        EmailThread,
        ManualThreadDecision,
        Booking,
        Lead,
        EmailIngestRun,
        Customer,
        Mailbox,
    )
)
TABLES = {table.name: table for table in SEED_TABLES}
# Loaded with their indexes and constraints suspended (see seed_write).
BIG_TABLES = ("email_messages", "email_threads", "leads")


class SeedProgress(Protocol):
    """Where the seed reports how far it got."""

    def start(self, total_rows: int) -> None: ...

    def advance(self, rows: int) -> None: ...

    def step(self, description: str) -> None: ...


class NonSeedData(Exception):
    """The database holds rows the seed did not write; seeding would destroy them."""

    def __init__(self, found: dict[str, int]) -> None:
        self.found = found
        listed = ", ".join(f"{count} {what}" for what, count in found.items())
        super().__init__(f"the database holds data the seed did not write ({listed})")


@dataclass
class SeedReport:
    scale: str
    seed: int
    anchor: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


async def seed_database(
    settings: Settings, plan: SeedPlan, *, force: bool, progress: SeedProgress
) -> SeedReport:
    """Migrate, check, empty and fill the configured database; return what was written."""
    started = time.monotonic()
    await upgrade_database(settings)
    engine = create_engine(settings, application_name="leadflow-seed")
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            found = await non_seed_rows(session)
            if found and not force:
                raise NonSeedData(found)
            report = await write_seed(session, plan, progress)
        progress.step("analysing tables")
        await analyse(engine)
    finally:
        await engine.dispose()
    report.seconds = round(time.monotonic() - started, 2)
    return report


async def non_seed_rows(session: AsyncSession) -> dict[str, int]:
    """Rows the seed did not write, by kind (empty when the database is new or seed-only)."""
    seed_mailbox = select(Mailbox.id).where(Mailbox.email == SEED_MAILBOX).scalar_subquery()
    checks = {
        "mailboxes": select(func.count()).where(Mailbox.email != SEED_MAILBOX),
        "customers": select(func.count()).where(
            ~func.coalesce(cast(Customer.tags, Text), "").like(f'%"{SEED_TAG}"%')
        ),
        "leads": select(func.count()).where(
            or_(Lead.mailbox_id.is_(None), Lead.mailbox_id != seed_mailbox)
        ),
        "bookings": select(func.count())
        .select_from(Booking)
        .join(Customer, Customer.id == Booking.customer_id)
        .where(~cast(Customer.tags, Text).like(f'%"{SEED_TAG}"%')),
    }
    found: dict[str, int] = {}
    for what, stmt in checks.items():
        count = (await session.execute(stmt)).scalar_one()
        if count:
            found[what] = count
    return found


async def write_seed(session: AsyncSession, plan: SeedPlan, progress: SeedProgress) -> SeedReport:
    """Empty the seed's tables and write the whole seed in the session's transaction."""
    writer = BulkWriter(session)
    if writer.postgres:
        # Index builds and the bulk load outlast the API's statement timeout.
        await session.execute(text("SET LOCAL statement_timeout = 0"))
        await session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    await _empty(session, writer)
    customers = make_customers(plan)
    leads = make_leads(plan, customers)
    threads = plan_threads(plan, customers, leads)
    bookings = booking_rows(plan, customers, leads)
    runs = ingest_run_rows(plan, SEED_MAILBOX_ID)
    progress.start(
        len(customers)
        + len(leads)
        + len(threads)
        + sum(t.messages for t in threads)
        + len(bookings)
        + len(runs)
    )
    await writer.write(TABLES["mailboxes"], [_mailbox_row(plan)])
    first_lead: dict[int, datetime] = {}
    for lead in leads:
        first_lead.setdefault(lead.customer.id, lead.received_at)
    await writer.write(TABLES["customers"], customer_rows(customers, first_lead))
    progress.advance(len(customers))
    suspended = await writer.suspend(TABLES[name] for name in BIG_TABLES)
    replies: list[MessageFacts] = []
    messages = await _write_mail(writer, plan, customers, threads, progress, replies)
    answered = first_responses([_lead_facts(lead) for lead in leads], replies)
    del replies
    await writer.write(TABLES["leads"], lead_rows(leads, plan, SEED_MAILBOX_ID, answered))
    await writer.write(TABLES["bookings"], bookings)
    await writer.write(TABLES["email_ingest_runs"], runs)
    progress.advance(len(leads) + len(bookings) + len(runs))
    progress.step("building indexes and constraints")
    await writer.restore(suspended)
    await writer.reset_sequences(SEED_TABLES)
    progress.step("recounting customer counters")
    if writer.postgres:
        await session.execute(text("ANALYZE"))  # the recount's subqueries need real statistics
    await refresh_counters(session, [c.id for c in customers])
    return SeedReport(
        scale=plan.scale.name,
        seed=plan.seed,
        anchor=plan.anchor.isoformat(),
        rows={
            "customers": len(customers),
            "leads": len(leads),
            "duplicate_leads": sum(1 for lead in leads if lead.duplicate_of_id is not None),
            "email_threads": len(threads),
            "email_messages": messages,
            "bookings": len(bookings),
            "email_ingest_runs": len(runs),
        },
    )


async def _write_mail(
    writer: BulkWriter,
    plan: SeedPlan,
    customers: list[SeedCustomer],
    threads: list[ThreadPlan],
    progress: SeedProgress,
    replies: list[MessageFacts],
) -> int:
    """Write threads and messages chunk by chunk; the next chunk is built in a worker thread
    while the database takes the current one. Returns the number of messages; `replies` gets
    the facts of our messages that may answer a lead."""
    shared: dict[str, list[int]] = defaultdict(list)
    for customer in customers:
        if customer.shared_domain and customer.domain:
            shared[customer.domain].append(customer.id)
    builder = MailBuilder(plan, SEED_MAILBOX_ID, shared)
    builder.lead_emails = frozenset(
        t.customer.email.lower() for t in threads if t.lead is not None and t.customer is not None
    )
    builder.replies = replies

    def build(chunk: list[ThreadPlan]) -> tuple[Prepared, Prepared]:
        built = [builder.build(thread) for thread in chunk]
        rows = [m for b in built for m in b.messages]
        return (
            writer.prepare(TABLES["email_threads"], [b.row for b in built]),
            writer.prepare(TABLES["email_messages"], rows),
        )

    chunks = [threads[i : i + THREAD_CHUNK] for i in range(0, len(threads), THREAD_CHUNK)]
    written = 0
    next_chunk = asyncio.create_task(asyncio.to_thread(build, chunks[0])) if chunks else None
    try:
        for position in range(len(chunks)):
            assert next_chunk is not None
            thread_rows, message_rows = await next_chunk
            if position + 1 < len(chunks):
                next_chunk = asyncio.create_task(asyncio.to_thread(build, chunks[position + 1]))
            await writer.write_prepared(thread_rows)
            await writer.write_prepared(message_rows)
            written += len(message_rows.records)
            progress.advance(len(thread_rows.records) + len(message_rows.records))
    finally:
        # A failed write must not leave the builder thread running unobserved.
        if next_chunk is not None and not next_chunk.done():
            with contextlib.suppress(Exception):
                await next_chunk
    return written


def _lead_facts(lead: SeedLead) -> LeadFacts:
    return LeadFacts(
        id=lead.id,
        received_at=lead.received_at,
        mailbox_id=SEED_MAILBOX_ID,
        gmail_thread_id=lead.gmail_id,
        email=lead.customer.email,
        customer_id=lead.customer.id,
    )


async def _empty(session: AsyncSession, writer: BulkWriter) -> None:
    names = ", ".join(table.name for table in SEED_TABLES)
    if writer.postgres:
        await session.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
        return
    for table in SEED_TABLES:
        if table.name == "leads":
            # Leads point at leads (duplicates); clear those links before deleting the rows.
            await session.execute(table.update().values(duplicate_of_id=None))
        await session.execute(table.delete())


def _mailbox_row(plan: SeedPlan) -> dict[str, object]:
    return {
        "id": SEED_MAILBOX_ID,
        "email": SEED_MAILBOX,
        "provider": "mbox",
        "sync_cursor": None,
        "last_sync_started_at": plan.anchor,
        "last_sync_succeeded_at": plan.anchor,
        "last_error": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "created_at": plan.anchor,
    }


async def analyse(engine: AsyncEngine) -> None:
    """Fresh statistics (and, on PostgreSQL, a vacuumed visibility map) for every table."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("SET statement_timeout = 0"))
            for table in SEED_TABLES:
                await autocommit.execute(text(f"VACUUM (ANALYZE) {table.name}"))
        return
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.execute(text("PRAGMA optimize"))
