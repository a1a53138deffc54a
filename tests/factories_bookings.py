"""Small factories for booking and dashboard tests: each adds a row and flushes; callers commit."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import (
    Booking,
    BookingStatus,
    Customer,
    EmailIngestRun,
    EmailThread,
    IngestMode,
    IngestStatus,
    Lead,
    Mailbox,
    MailProvider,
)

_seq = itertools.count(1)

# A fixed Monday morning, far from any DST change, to lay bookings out from.
BASE = datetime(2031, 3, 3, 8, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    """BASE plus `hours`."""
    return BASE + timedelta(hours=hours)


def iso(hours: float) -> str:
    return at(hours).isoformat()


async def make_customer(session: AsyncSession, **fields: Any) -> Customer:
    n = next(_seq)
    values: dict[str, Any] = {"name": f"Kunde {n}", "email": f"kunde{n}@example.test"}
    customer = Customer(**(values | fields))
    session.add(customer)
    await session.flush()
    return customer


async def make_lead(session: AsyncSession, **fields: Any) -> Lead:
    n = next(_seq)
    values: dict[str, Any] = {"source": "website", "email": f"lead{n}@example.test"}
    lead = Lead(**(values | fields))
    session.add(lead)
    await session.flush()
    return lead


def _moment(value: float | datetime) -> datetime:
    return value if isinstance(value, datetime) else at(value)


async def make_booking(
    session: AsyncSession,
    *,
    customer: Customer,
    start: float | datetime,
    end: float | datetime,
    **fields: Any,
) -> Booking:
    """A booking from `start` to `end` (datetimes or hours after BASE), bypassing the API."""
    values: dict[str, Any] = {"status": BookingStatus.SCHEDULED, "team": "default"}
    booking = Booking(
        customer_id=customer.id,
        start_time=_moment(start),
        end_time=_moment(end),
        **(values | fields),
    )
    session.add(booking)
    await session.flush()
    return booking


async def make_mailbox(session: AsyncSession, **fields: Any) -> Mailbox:
    n = next(_seq)
    values: dict[str, Any] = {"email": f"inbox{n}@example.test", "provider": MailProvider.GMAIL}
    mailbox = Mailbox(**(values | fields))
    session.add(mailbox)
    await session.flush()
    return mailbox


async def make_thread(session: AsyncSession, *, mailbox: Mailbox, **fields: Any) -> EmailThread:
    thread = EmailThread(mailbox_id=mailbox.id, gmail_thread_id=f"t{next(_seq)}", **fields)
    session.add(thread)
    await session.flush()
    return thread


async def make_run(
    session: AsyncSession, *, mailbox: Mailbox, started_at: datetime, **fields: Any
) -> EmailIngestRun:
    values: dict[str, Any] = {"mode": IngestMode.INCREMENTAL, "status": IngestStatus.COMPLETED}
    run = EmailIngestRun(mailbox_id=mailbox.id, started_at=started_at, **(values | fields))
    session.add(run)
    await session.flush()
    return run
