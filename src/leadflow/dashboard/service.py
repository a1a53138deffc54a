"""Dashboard KPIs, each computed by an aggregate query (no rows are loaded to be counted).

Day-based windows use the business time zone: "today" runs from local midnight to the next one,
"7 days" are today and the six calendar days before it (30 likewise). Bookings count from `now`.

Response times use the same windows, by when the lead arrived. Median and p90 are over the
answered leads of the window, spam and duplicates left out (a duplicate is answered with its
original); leads not answered yet are counted apart (`waiting`, `waiting_past_target`).
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.dashboard.schemas import (
    BookingStats,
    CustomerStats,
    DashboardStats,
    DayCount,
    IngestRunSummary,
    LeadStats,
    MailboxSyncStatus,
    ResponseTimeStats,
    ResponseWindow,
    ThreadStats,
)
from leadflow.leads.response_time import percentile, response_seconds
from leadflow.leads.responses import awaiting_reply_filter
from leadflow.models import (
    ACTIVE_BOOKING_STATUSES,
    OPEN_LEAD_STATUSES,
    Booking,
    Customer,
    CustomerStatus,
    EmailIngestRun,
    EmailThread,
    Lead,
    LeadStatus,
    Mailbox,
)

PER_DAY_DAYS = 30


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The start of `day` in `tz` (a day's windows run from one local midnight to the next)."""
    return datetime.combine(day, time(), tzinfo=tz)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


async def compute_stats(
    session: AsyncSession, *, now: datetime, timezone: str, response_target_minutes: int = 60
) -> DashboardStats:
    """Every dashboard KPI as of `now` (timezone-aware), with days cut in `timezone`."""
    return DashboardStats(
        generated_at=now,
        timezone=timezone,
        leads=await lead_stats(session, now=now, tz=ZoneInfo(timezone)),
        customers=await customer_stats(session),
        bookings=await booking_stats(session, now=now),
        threads=await thread_stats(session),
        mailboxes=await mailbox_sync_status(session),
        response_times=await response_time_stats(
            session, now=now, tz=ZoneInfo(timezone), target_minutes=response_target_minutes
        ),
    )


async def lead_stats(session: AsyncSession, *, now: datetime, tz: ZoneInfo) -> LeadStats:
    today = now.astimezone(tz).date()
    end = local_midnight(today + timedelta(days=1), tz)

    def since(days_back: int) -> ColumnElement[bool]:
        start = local_midnight(today - timedelta(days=days_back), tz)
        return (Lead.received_at >= start) & (Lead.received_at < end)

    days = [today - timedelta(days=back) for back in range(PER_DAY_DAYS - 1, -1, -1)]
    midnights = [local_midnight(day, tz) for day in [*days, today + timedelta(days=1)]]
    counts = (
        await session.execute(
            select(
                func.count(),
                _count_if(since(0)),
                _count_if(since(6)),
                _count_if(since(29)),
                _count_if(Lead.status.in_(OPEN_LEAD_STATUSES) & Lead.duplicate_of_id.is_(None)),
                # One column per day: each a half-open range between two local midnights, so a
                # 23- or 25-hour DST day is counted as the day it is.
                *(
                    _count_if((Lead.received_at >= start) & (Lead.received_at < stop))
                    for start, stop in itertools.pairwise(midnights)
                ),
            ).select_from(Lead)
        )
    ).one()
    by_status = {status.value: 0 for status in LeadStatus}
    for lead_status, n in await session.execute(
        select(Lead.status, func.count()).group_by(Lead.status)
    ):
        by_status[LeadStatus(lead_status).value] = n
    by_source = {
        source: n
        for source, n in await session.execute(
            select(Lead.source, func.count()).group_by(Lead.source).order_by(Lead.source)
        )
    }
    return LeadStats(
        total=counts[0],
        new_today=counts[1],
        new_7d=counts[2],
        new_30d=counts[3],
        open=counts[4],
        by_status=by_status,
        by_source=by_source,
        per_day=[DayCount(day=day, count=n) for day, n in zip(days, counts[5:], strict=True)],
    )


RESPONSE_WINDOWS = (7, 30)


def _window(seconds: list[int]) -> ResponseWindow:
    minutes = [s / 60 for s in seconds]
    median, p90 = percentile(minutes, 0.5), percentile(minutes, 0.9)
    return ResponseWindow(
        answered=len(minutes),
        median_minutes=round(median, 1) if median is not None else None,
        p90_minutes=round(p90, 1) if p90 is not None else None,
    )


async def response_time_stats(
    session: AsyncSession, *, now: datetime, tz: ZoneInfo, target_minutes: int
) -> ResponseTimeStats:
    """Median and p90 answer times over 7 and 30 days, and the leads still waiting."""
    today = now.astimezone(tz).date()
    end = local_midnight(today + timedelta(days=1), tz)
    starts = {
        days: local_midnight(today - timedelta(days=days - 1), tz) for days in RESPONSE_WINDOWS
    }
    # Only two timestamps per answered lead of the last 30 days: few enough to rank here, the
    # same way on SQLite (no percentile function) and PostgreSQL.
    rows = await session.execute(
        select(Lead.received_at, Lead.first_response_at).where(
            Lead.received_at >= starts[max(RESPONSE_WINDOWS)],
            Lead.received_at < end,
            Lead.first_response_at.is_not(None),
            Lead.status != LeadStatus.SPAM,
            Lead.duplicate_of_id.is_(None),
        )
    )
    by_window: dict[int, list[int]] = {days: [] for days in RESPONSE_WINDOWS}
    for received_at, answered_at in rows:
        seconds = response_seconds(received_at, answered_at)
        if seconds is None or received_at is None:
            continue
        for days in RESPONSE_WINDOWS:
            if received_at >= starts[days]:
                by_window[days].append(seconds)
    late = now - timedelta(minutes=target_minutes)
    waiting, past_target, oldest = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(Lead.received_at < late),
                func.min(Lead.received_at),
            ).where(awaiting_reply_filter())
        )
    ).one()
    return ResponseTimeStats(
        target_minutes=target_minutes,
        last_7d=_window(by_window[7]),
        last_30d=_window(by_window[30]),
        waiting=waiting,
        waiting_past_target=past_target,
        oldest_waiting_since=oldest,
    )


async def customer_stats(session: AsyncSession) -> CustomerStats:
    total, active = (
        await session.execute(
            select(func.count(), _count_if(Customer.status == CustomerStatus.ACTIVE)).select_from(
                Customer
            )
        )
    ).one()
    return CustomerStats(total=total, active=active)


async def booking_stats(session: AsyncSession, *, now: datetime) -> BookingStats:
    upcoming, next_week = (
        await session.execute(
            select(func.count(), _count_if(Booking.start_time < now + timedelta(days=7)))
            .select_from(Booking)
            .where(Booking.status.in_(ACTIVE_BOOKING_STATUSES), Booking.start_time >= now)
        )
    ).one()
    return BookingStats(upcoming=upcoming, next_7_days=next_week)


async def thread_stats(session: AsyncSession) -> ThreadStats:
    total, matched = (
        await session.execute(
            select(func.count(), _count_if(EmailThread.is_matched.is_(True))).select_from(
                EmailThread
            )
        )
    ).one()
    return ThreadStats(total=total, matched=matched, unmatched=total - matched)


async def mailbox_sync_status(session: AsyncSession) -> list[MailboxSyncStatus]:
    """Each mailbox with its sync fields and its latest ingest run (None before the first)."""
    ranked = select(
        EmailIngestRun,
        func.row_number()
        .over(
            partition_by=EmailIngestRun.mailbox_id,
            order_by=(EmailIngestRun.started_at.desc(), EmailIngestRun.id.desc()),
        )
        .label("rank"),
    ).subquery()
    stmt = (
        select(
            Mailbox,
            ranked.c.status,
            ranked.c.mode,
            ranked.c.started_at,
            ranked.c.finished_at,
        )
        .outerjoin(ranked, (ranked.c.mailbox_id == Mailbox.id) & (ranked.c.rank == 1))
        .order_by(Mailbox.email)
    )
    result: list[MailboxSyncStatus] = []
    for mailbox, run_status, mode, started_at, finished_at in await session.execute(stmt):
        last_run = (
            IngestRunSummary(
                status=run_status, mode=mode, started_at=started_at, finished_at=finished_at
            )
            if run_status is not None
            else None
        )
        result.append(
            MailboxSyncStatus(
                id=mailbox.id,
                email=mailbox.email,
                provider=mailbox.provider,
                last_sync_started_at=mailbox.last_sync_started_at,
                last_sync_succeeded_at=mailbox.last_sync_succeeded_at,
                last_error=mailbox.last_error,
                last_run=last_run,
            )
        )
    return result
