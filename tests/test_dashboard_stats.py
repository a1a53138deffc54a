"""Dashboard KPIs: counts computed in SQL, day windows cut in the business time zone."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.dashboard.service import compute_stats
from leadflow.models import (
    BookingStatus,
    CustomerStatus,
    IngestMode,
    IngestStatus,
    LeadStatus,
    MailProvider,
    utcnow,
)
from tests.factories_bookings import (
    make_booking,
    make_customer,
    make_lead,
    make_mailbox,
    make_run,
    make_thread,
)

CPH = "Europe/Copenhagen"
SUMMER_NOW = datetime(2031, 6, 15, 10, 0, tzinfo=UTC)  # 12:00 in Copenhagen (UTC+2)
WINTER_NOW = datetime(2031, 1, 15, 12, 0, tzinfo=UTC)  # 13:00 in Copenhagen (UTC+1)


def _local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def _in_last_days(moment: datetime, *, now: datetime, days: int, timezone: str) -> bool:
    """Reference rule: the lead's local calendar day is today or one of the `days - 1` before."""
    age = (_local_day(now, timezone) - _local_day(moment, timezone)).days
    return 0 <= age < days


async def test_a_lead_at_2330_utc_counts_as_the_next_day_in_copenhagen(
    session: AsyncSession,
) -> None:
    now = datetime(2031, 6, 15, 6, 0, tzinfo=UTC)
    await make_lead(session, received_at=datetime(2031, 6, 14, 23, 30, tzinfo=UTC))
    await session.commit()
    copenhagen = await compute_stats(session, now=now, timezone=CPH)
    utc = await compute_stats(session, now=now, timezone="UTC")
    assert (copenhagen.leads.new_today, utc.leads.new_today) == (1, 0)
    assert (copenhagen.leads.new_7d, utc.leads.new_7d) == (1, 1)


@pytest.mark.parametrize("now", [SUMMER_NOW, WINTER_NOW], ids=["summer", "winter"])
async def test_it_counts_new_leads_by_local_calendar_day(
    session: AsyncSession, now: datetime
) -> None:
    # Around every UTC midnight for 33 days, a different number each day (a periodic pattern
    # would give the same counts whichever midnight the windows were cut at).
    offsets = [
        timedelta(hours=-2, minutes=-30),
        timedelta(hours=-1, minutes=-1),
        timedelta(hours=-1),
        timedelta(minutes=-30),
        timedelta(hours=11),
    ]
    received = [
        datetime.combine(now.date() - timedelta(days=d), datetime.min.time(), tzinfo=UTC) + offset
        for d in range(-1, 33)
        for offset in offsets[: d % len(offsets) + 1]
    ]
    for moment in received:
        await make_lead(session, received_at=moment)
    await make_lead(session, received_at=None)
    await session.commit()

    stats = (await compute_stats(session, now=now, timezone=CPH)).leads

    def expected(days: int) -> int:
        return sum(_in_last_days(m, now=now, days=days, timezone=CPH) for m in received)

    assert stats.total == len(received) + 1
    assert (stats.new_today, stats.new_7d, stats.new_30d) == (
        expected(1),
        expected(7),
        expected(30),
    )
    assert 0 < stats.new_today < stats.new_7d < stats.new_30d < len(received)


@pytest.mark.parametrize(
    "now",
    [
        datetime(2031, 4, 10, 9, 0, tzinfo=UTC),  # the window holds the spring DST change
        datetime(2031, 11, 10, 9, 0, tzinfo=UTC),  # ... and this one the autumn change
    ],
    ids=["spring", "autumn"],
)
async def test_it_counts_leads_per_local_day_for_30_days(
    session: AsyncSession, now: datetime
) -> None:
    # Around every UTC midnight of 32 days, a different number of leads each day.
    received = [
        datetime.combine(now.date() - timedelta(days=d), datetime.min.time(), tzinfo=UTC)
        + timedelta(minutes=minutes)
        for d in range(-1, 32)
        for minutes in (-90, -59, -30, 30, 90)[: d % 5 + 1]
    ]
    for moment in received:
        await make_lead(session, received_at=moment)
    await session.commit()

    per_day = (await compute_stats(session, now=now, timezone=CPH)).leads.per_day

    today = _local_day(now, CPH)
    assert [d.day for d in per_day] == [today - timedelta(days=back) for back in range(29, -1, -1)]
    local_days = Counter(_local_day(moment, CPH) for moment in received)
    assert [d.count for d in per_day] == [local_days.get(d.day, 0) for d in per_day]
    assert (
        sum(d.count for d in per_day)
        == (await compute_stats(session, now=now, timezone=CPH)).leads.new_30d
    )


async def test_it_breaks_leads_down_by_status_and_source_and_counts_open_ones(
    session: AsyncSession,
) -> None:
    arranged = [
        ("website", LeadStatus.NEW),
        ("website", LeadStatus.NEW),
        ("leadpoint", LeadStatus.CONTACTED),
        ("leadpoint", LeadStatus.QUOTED),
        ("rengoring_nu", LeadStatus.WON),
        ("rengoring_nu", LeadStatus.SPAM),
        ("adhelp", LeadStatus.LOST),
    ]
    leads = [await make_lead(session, source=src, status=st) for src, st in arranged]
    duplicate = await make_lead(
        session, source="website", status=LeadStatus.NEW, duplicate_of_id=leads[0].id
    )
    await session.commit()
    everything = [*arranged, (duplicate.source, duplicate.status)]

    stats = (await compute_stats(session, now=SUMMER_NOW, timezone=CPH)).leads

    statuses = Counter(st.value for _, st in everything)
    assert stats.by_status == {st.value: statuses.get(st.value, 0) for st in LeadStatus}
    assert stats.by_source == dict(Counter(src for src, _ in everything))
    open_statuses = {LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUOTED}
    assert stats.open == sum(st in open_statuses for _, st in arranged)


async def test_it_counts_customers_threads_and_upcoming_bookings(session: AsyncSession) -> None:
    now = SUMMER_NOW
    active = [await make_customer(session) for _ in range(3)]
    await make_customer(session, status=CustomerStatus.INACTIVE)
    # (hours from now, status, team): only active ones from now on are upcoming.
    arranged = [
        (-5, BookingStatus.SCHEDULED, "a"),
        (-0.5, BookingStatus.CONFIRMED, "b"),
        (0, BookingStatus.SCHEDULED, "c"),
        (30, BookingStatus.CONFIRMED, "a"),
        (24 * 7 - 1, BookingStatus.SCHEDULED, "a"),
        (24 * 7, BookingStatus.SCHEDULED, "b"),
        (24 * 20, BookingStatus.CONFIRMED, "a"),
        (48, BookingStatus.CANCELLED, "a"),
        (72, BookingStatus.COMPLETED, "a"),
    ]
    for hours, status, team in arranged:
        start = now + timedelta(hours=hours)
        await make_booking(
            session,
            customer=active[0],
            start=start,
            end=start + timedelta(hours=1),
            status=status,
            team=team,
        )
    mailbox = await make_mailbox(session)
    for matched in (True, True, False, False, False):
        await make_thread(session, mailbox=mailbox, is_matched=matched)
    await session.commit()

    stats = await compute_stats(session, now=now, timezone=CPH)

    live = [h for h, st, _ in arranged if st in (BookingStatus.SCHEDULED, BookingStatus.CONFIRMED)]
    assert stats.customers.model_dump() == {"total": 4, "active": len(active)}
    assert stats.bookings.upcoming == sum(h >= 0 for h in live)
    assert stats.bookings.next_7_days == sum(0 <= h < 24 * 7 for h in live)
    assert stats.threads.model_dump() == {"total": 5, "matched": 2, "unmatched": 3}


async def test_it_reports_each_mailbox_with_its_latest_ingest_run(session: AsyncSession) -> None:
    synced = await make_mailbox(
        session,
        email="info@example.test",
        last_sync_started_at=SUMMER_NOW - timedelta(minutes=5),
        last_sync_succeeded_at=SUMMER_NOW - timedelta(hours=1),
        last_error="quota exceeded",
    )
    fresh = await make_mailbox(session, email="archive@example.test", provider=MailProvider.MBOX)
    older = SUMMER_NOW - timedelta(hours=1)
    await make_run(session, mailbox=synced, started_at=older, mode=IngestMode.FULL)
    latest = await make_run(
        session,
        mailbox=synced,
        started_at=SUMMER_NOW - timedelta(minutes=5),
        finished_at=SUMMER_NOW - timedelta(minutes=4),
        status=IngestStatus.FAILED,
    )
    await session.commit()

    mailboxes = (await compute_stats(session, now=SUMMER_NOW, timezone=CPH)).mailboxes

    assert [m.email for m in mailboxes] == [fresh.email, synced.email]
    assert mailboxes[0].last_run is None
    report = mailboxes[1]
    assert (report.provider, report.last_error) == (MailProvider.GMAIL, "quota exceeded")
    assert report.last_sync_succeeded_at == synced.last_sync_succeeded_at
    assert report.last_run is not None
    assert (report.last_run.status, report.last_run.mode) == (latest.status, latest.mode)
    assert report.last_run.finished_at == latest.finished_at


async def test_the_endpoint_serves_the_stats(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    await make_lead(session, received_at=now - timedelta(days=10), status=LeadStatus.QUOTED)
    await make_lead(session, received_at=now - timedelta(days=40), source="leadpoint")
    await make_customer(session)
    await session.commit()

    response = await client.get("/api/dashboard/stats")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timezone"] == CPH
    assert body["leads"]["new_7d"] == 0
    assert body["leads"]["new_30d"] == 1
    assert body["leads"]["by_source"] == {"leadpoint": 1, "website": 1}
    assert body["leads"]["by_status"]["quoted"] == 1
    assert body["customers"] == {"total": 1, "active": 1}
    assert body["mailboxes"] == []


async def test_the_endpoint_answers_zeros_on_an_empty_database(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/dashboard/stats")).json()
    assert body["leads"]["total"] == 0
    assert set(body["leads"]["by_status"]) == {st.value for st in LeadStatus}
    assert body["bookings"] == {"upcoming": 0, "next_7_days": 0}
    assert body["threads"] == {"total": 0, "matched": 0, "unmatched": 0}


async def test_the_endpoint_requires_the_token(anon_client: httpx.AsyncClient) -> None:
    assert (await anon_client.get("/api/dashboard/stats")).status_code == 401
