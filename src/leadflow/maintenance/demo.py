"""`leadflow demo`: the embedded database filled through the real pipeline, plus bookings.

The sample mailbox is imported exactly as `leadflow sync --mbox` would import it (parse → store
→ leads → matching), so the demo shows what the code does, not hand-made rows. Its dates are
moved so that the newest message was sent just now (`dated_sample_mailbox`), so every dashboard
figure has data. Bookings do not arrive by email; they are made through the booking service
(which applies the overlap rule) for customers that have leads.

Running the demo again adds nothing: the messages keep their ids, so a later run skips them and
the data keeps the dates of the first load (on a later day "new today" may then read 0; delete
the database file to start afresh). The demo loads only into a database that is empty or holds
its own data: any other mailbox, or customers without the demo mailbox, make it refuse.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.bookings import service as booking_service
from leadflow.bookings.schemas import BookingCreate
from leadflow.db import create_engine, create_sessionmaker, transaction
from leadflow.maintenance.sample_mailbox import OWN_ADDRESS, dated_sample_mailbox
from leadflow.maintenance.schema import current_schema_revision, upgrade_database
from leadflow.models import (
    Booking,
    Customer,
    EmailMessage,
    EmailThread,
    Lead,
    Mailbox,
    MailProvider,
    utcnow,
)
from leadflow.settings import Settings

DEMO_TEAMS = ("team-a", "team-b")
DEMO_BOOKINGS = 12
DEMO_MAILBOX = (OWN_ADDRESS, MailProvider.MBOX)


class NotDemoData(Exception):
    """The database holds data the demo did not write."""


async def load_demo_data(settings: Settings, *, now: datetime | None = None) -> str:
    """Migrate, import the sample mailbox dated up to `now`, add bookings once; return a summary."""
    from leadflow.sync.job import import_mbox

    now = now or utcnow()
    engine = create_engine(settings, application_name="leadflow-demo")
    try:
        sessionmaker = create_sessionmaker(engine)
        # Look before migrating: a database holding other data is left exactly as it was.
        if await current_schema_revision(settings) is not None:
            await _refuse_other_data(sessionmaker)
        await upgrade_database(settings)
        with tempfile.TemporaryDirectory(prefix="leadflow-demo-") as directory:
            path = Path(directory) / "sample-mailbox.mbox"
            await asyncio.to_thread(
                path.write_bytes,
                dated_sample_mailbox(now, timezone=ZoneInfo(settings.timezone)).mbox_bytes(),
            )
            await import_mbox(settings, sessionmaker, path=path, mailbox_email=OWN_ADDRESS)
        await _seed_bookings(sessionmaker, settings, now=now)
        return await _summary(sessionmaker)
    finally:
        await engine.dispose()


async def _refuse_other_data(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        mailboxes = (await session.execute(select(Mailbox.email, Mailbox.provider))).all()
        customers = (await session.execute(select(func.count(Customer.id)))).scalar_one()
    others = [email for email, provider in mailboxes if (email, provider) != DEMO_MAILBOX]
    if others:
        raise NotDemoData(f"the database holds the mailbox {others[0]}")
    if customers and not mailboxes:
        raise NotDemoData(f"the database holds {customers} customers")


async def _seed_bookings(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, now: datetime
) -> None:
    async with transaction(sessionmaker) as session:
        if (await session.execute(select(func.count(Booking.id)))).scalar_one():
            return
        rows = (
            await session.execute(
                select(Lead.id, Lead.customer_id, Lead.task_type, Customer.address)
                .join(Customer, Customer.id == Lead.customer_id)
                .where(Lead.duplicate_of_id.is_(None))
                .order_by(Lead.received_at.asc(), Lead.id.asc())
                .limit(DEMO_BOOKINGS)
            )
        ).all()
        tz = ZoneInfo(settings.timezone)
        first_day = (now.astimezone(tz) + timedelta(days=1)).date()
        for index, (lead_id, customer_id, task_type, address) in enumerate(rows):
            day = first_day + timedelta(days=index // 4)
            start = datetime.combine(day, time(8 + 4 * ((index // 2) % 2)), tzinfo=tz)
            await booking_service.create(
                session,
                data=BookingCreate(
                    customer_id=customer_id,
                    lead_id=lead_id,
                    service_type=task_type,
                    address=address,
                    team=DEMO_TEAMS[index % 2],
                    start_time=start,
                    end_time=start + timedelta(hours=3),
                    status="confirmed" if index % 3 == 0 else "scheduled",
                ),
            )


async def _summary(sessionmaker: async_sessionmaker[AsyncSession]) -> str:
    async with sessionmaker() as session:
        counts = {}
        for label, model in (
            ("customers", Customer),
            ("leads", Lead),
            ("threads", EmailThread),
            ("messages", EmailMessage),
            ("bookings", Booking),
        ):
            counts[label] = (await session.execute(select(func.count(model.id)))).scalar_one()
        matched = (
            await session.execute(
                select(func.count(EmailThread.id)).where(EmailThread.is_matched.is_(True))
            )
        ).scalar_one()
    parts = ", ".join(f"{value} {label}" for label, value in counts.items())
    return f"{parts} ({matched} threads matched to customers)"
