"""Migrations: upgrade on an empty database, downgrade to base, and no drift from the models."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow.maintenance.schema import current_schema_revision, upgrade_database
from leadflow.migrations import (
    current_revision,
    head_revision,
    include_object_for,
    run_downgrade,
    run_upgrade,
)
from leadflow.models import Base, Booking, Customer, Lead
from leadflow.settings import Settings

# The ten indexes the old system's optimise script promised; all must exist after upgrade.
SEED_INDEXES = {
    ("email_threads", "customer_id"),
    ("email_threads", "is_matched"),
    ("email_threads", "last_message_at"),
    ("email_messages", "thread_id"),
    ("email_messages", "sent_at"),
    ("leads", "email"),
    ("leads", "status"),
    ("customers", "email"),
    ("bookings", "customer_id"),
    ("bookings", "start_time"),
}


async def _migrate(engine: AsyncEngine, step: Callable[[Connection, str], None], to: str) -> None:
    async with engine.connect() as conn:
        await conn.run_sync(step, to)
        await conn.commit()


@asynccontextmanager
async def _at(engine: AsyncEngine, revision: str) -> AsyncIterator[AsyncEngine]:
    """The test database at `revision` for the block; back at head afterwards."""
    await _migrate(engine, run_downgrade, revision)
    try:
        yield engine
    finally:
        await _migrate(engine, run_upgrade, "head")


@pytest.fixture
async def scratch_engine(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The test database, downgraded to empty for the test and upgraded again afterwards."""
    async with _at(engine, "base") as at_base:
        yield at_base


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


def _single_column_indexes(conn: Connection) -> set[tuple[str, str]]:
    inspector = inspect(conn)
    found = set()
    for table in inspector.get_table_names():
        for index in inspector.get_indexes(table):
            if len(index["column_names"]) == 1:
                found.add((table, str(index["column_names"][0])))
    return found


def _drift(conn: Connection) -> list[object]:
    opts = {"compare_type": True, "include_object": include_object_for(conn.dialect.name)}
    context = MigrationContext.configure(conn, opts=opts)
    with warnings.catch_warnings():
        # Alembic cannot reflect expression indexes on SQLite and says so even for those the
        # models declare for PostgreSQL only (the bookings' duration index).
        warnings.filterwarnings(
            "ignore",
            message=".*expression-based index 'ix_bookings_duration'",
            category=UserWarning,
        )
        return list(compare_metadata(context, Base.metadata))


async def test_it_upgrades_an_empty_database_and_downgrades_to_base(
    scratch_engine: AsyncEngine,
) -> None:
    async with scratch_engine.connect() as conn:
        assert await conn.run_sync(_tables) == set()
        await conn.run_sync(run_upgrade, "head")
        await conn.commit()
        assert await conn.run_sync(_tables) == set(Base.metadata.tables)
        assert await conn.run_sync(current_revision) == head_revision()
        await conn.run_sync(run_downgrade, "base")
        await conn.commit()
        assert await conn.run_sync(_tables) == set()


async def test_the_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert await conn.run_sync(_drift) == []


async def test_all_ten_seed_indexes_exist_after_upgrade(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        indexes = await conn.run_sync(_single_column_indexes)
    assert SEED_INDEXES - indexes == set()


@pytest.mark.postgres_only
async def test_the_booking_exclusion_constraint_exists_on_postgresql(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT contype::text FROM pg_constraint "
                    "WHERE conname = 'ex_bookings_team_no_overlap'"
                )
            )
        ).one_or_none()
        extension = (
            await conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'"))
        ).one_or_none()
    assert row is not None
    assert row[0] == "x"
    assert extension is not None


@pytest.fixture
async def at_0001(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The test database at revision 0001 (empty tables); back at head afterwards."""
    async with _at(engine, "0001") as at_0001:
        try:
            yield at_0001
        finally:
            async with engine.begin() as conn:
                await conn.execute(text("DELETE FROM bookings"))
                await conn.execute(text("DELETE FROM customers"))


async def _insert_bookings(engine: AsyncEngine, *rows: tuple[str, int, int, str]) -> None:
    """(team, start hour, end hour, status) rows as 0001 stored them, spelling untouched."""
    start = datetime(2031, 3, 3, 8, 0, tzinfo=UTC)
    async with engine.begin() as conn:
        customer_id = (
            await conn.execute(
                insert(Customer.__table__).values(status="active", tags=[]).returning(Customer.id)
            )
        ).scalar_one()
        for team, begin, end, status in rows:
            await conn.execute(
                insert(Booking.__table__).values(
                    customer_id=customer_id,
                    team=team,
                    start_time=start + timedelta(hours=begin),
                    end_time=start + timedelta(hours=end),
                    status=status,
                )
            )


async def test_0002_stores_team_names_lower_cased(at_0001: AsyncEngine) -> None:
    await _insert_bookings(
        at_0001,
        ("TZ-1", 0, 1, "scheduled"),
        ("tz-1", 1, 2, "confirmed"),
        (" Øst ", 0, 1, "scheduled"),
        ("TZ-1", 0, 2, "cancelled"),  # overlaps, but cancelled bookings hold no slot
    )
    async with at_0001.connect() as conn:
        await conn.run_sync(run_upgrade, "0002")
        await conn.commit()
        teams = (await conn.execute(text("SELECT team FROM bookings ORDER BY id"))).scalars()
        assert list(teams) == ["tz-1", "tz-1", "øst", "tz-1"]


async def test_0002_stops_with_the_bookings_that_would_double_book(at_0001: AsyncEngine) -> None:
    await _insert_bookings(at_0001, ("TZ-1", 0, 2, "scheduled"), ("tz-1", 1, 3, "confirmed"))
    async with at_0001.connect() as conn:
        with pytest.raises(RuntimeError, match=r"booking \d+ \('TZ-1'\) and booking \d+"):
            await conn.run_sync(run_upgrade, "0002")
        await conn.rollback()
        assert await conn.run_sync(current_revision) == "0001"
        teams = (await conn.execute(text("SELECT team FROM bookings ORDER BY id"))).scalars()
        assert list(teams) == ["TZ-1", "tz-1"]


@pytest.fixture
async def at_0006(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The test database at revision 0006 (before first_response_at); back at head afterwards."""
    async with _at(engine, "0006") as at_revision:
        yield at_revision


async def test_0008_backfills_first_response_at_from_stored_mail(at_0006: AsyncEngine) -> None:
    arrived = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    async with at_0006.begin() as conn:
        mailbox = (
            await conn.execute(
                text(
                    "INSERT INTO mailboxes (email, provider, created_at) "
                    "VALUES ('info@rendetalje.dk', 'gmail', :t) RETURNING id"
                ),
                {"t": arrived},
            )
        ).scalar_one()
        thread = (
            await conn.execute(
                text(
                    "INSERT INTO email_threads (mailbox_id, gmail_thread_id, participants, labels,"
                    " message_count, is_matched, created_at, updated_at)"
                    " VALUES (:m, 't1', '[]', '[]', 2, false, :t, :t) RETURNING id"
                ),
                {"m": mailbox, "t": arrived},
            )
        ).scalar_one()
        for gid, direction, minutes in (("lead", "inbound", 0), ("reply", "outbound", 42)):
            await conn.execute(
                text(
                    "INSERT INTO email_messages (thread_id, mailbox_id, gmail_message_id,"
                    ' "references", to_addresses, cc_addresses, reply_to_addresses, direction,'
                    " labels, attachments, body_truncated, has_attachments, sent_at, created_at)"
                    " VALUES (:th, :m, :g, '[]', '[\"kunde@example.dk\"]', '[]', '[]', :d, '[]',"
                    " '[]', false, false, :s, :s)"
                ),
                {
                    "th": thread,
                    "m": mailbox,
                    "g": gid,
                    "d": direction,
                    "s": arrived + timedelta(minutes=minutes),
                },
            )
        for gid, email in (("lead", "kunde@example.dk"), ("other", "anden@example.dk")):
            await conn.execute(
                text(
                    "INSERT INTO leads (source, email, status, needs_review, mailbox_id,"
                    " gmail_message_id, gmail_thread_id, received_at, details, edited_fields,"
                    " created_at, updated_at)"
                    " VALUES ('website', :e, 'new', false, :m, :g, :th, :r, '{}', '[]', :r, :r)"
                ),
                {
                    "e": email,
                    "m": mailbox,
                    "g": gid,
                    "th": "t1" if gid == "lead" else "t2",
                    "r": arrived,
                },
            )
    async with at_0006.connect() as conn:
        await conn.run_sync(run_upgrade, "0008")
        await conn.commit()
        rows = await conn.execute(
            select(Lead.gmail_message_id, Lead.first_response_at).order_by(Lead.id)
        )
        assert {gid: at for gid, at in rows} == {
            "lead": arrived + timedelta(minutes=42),
            "other": None,
        }


@pytest.mark.postgres_only
async def test_two_upgrades_at_once_both_end_at_head(bare_settings: Settings) -> None:
    """Two `db upgrade`s (or two deploys) at once: one waits for the other, then has nothing to
    do; neither fails on tables the other created."""
    await asyncio.gather(upgrade_database(bare_settings), upgrade_database(bare_settings))
    assert await current_schema_revision(bare_settings) == head_revision()


@pytest.fixture
async def at_0011(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The test database at revision 0011; back at head afterwards."""
    async with _at(engine, "0011") as at_revision:
        yield at_revision


@pytest.mark.postgres_only
async def test_0012_moves_infinite_preferred_dates_to_their_text(at_0011: AsyncEngine) -> None:
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    # What the API and the parsers handed asyncpg before: date.max and date.min.
    rows = [
        (date.max, None),
        (date.min, None),
        (date.max, "31.12.9999 hvis muligt"),
        (date(2026, 12, 24), "juleaften"),
    ]
    async with at_0011.begin() as conn:
        for day, written in rows:
            await conn.execute(
                text(
                    "INSERT INTO leads (source, status, needs_review, details, edited_fields,"
                    " preferred_date, preferred_date_text, created_at, updated_at)"
                    " VALUES ('website', 'new', false, '{}', '[]', :d, :w, :t, :t)"
                ),
                {"d": day, "w": written, "t": at},
            )
    async with at_0011.connect() as conn:
        infinite = "SELECT count(*) FROM leads WHERE preferred_date IN ('infinity', '-infinity')"
        stored = await conn.execute(text(infinite))
        assert stored.scalar_one() == 3  # the bug this revision mends
        await conn.run_sync(run_upgrade, "0012")
        await conn.commit()
        found = (
            await conn.execute(
                text("SELECT preferred_date::text, preferred_date_text FROM leads ORDER BY id")
            )
        ).all()
    assert [tuple(row) for row in found] == [
        (None, "9999-12-31"),
        (None, "0001-01-01"),
        (None, "31.12.9999 hvis muligt"),
        ("2026-12-24", "juleaften"),
    ]
