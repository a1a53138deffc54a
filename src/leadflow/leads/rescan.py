"""Lead detection on demand, over mail already stored (e.g. after adding a lead platform).

Walks stored messages that have no lead yet, in id order and in batches, through the same
`ingest_leads` the sync pipeline runs, then re-matches threads. Idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.db import transaction
from leadflow.leads.ingest import ingest_leads
from leadflow.mail.stored import message_from_row
from leadflow.matching.processor import rematch_after_sync
from leadflow.models import EmailMessage, EmailThread, Lead
from leadflow.settings import Settings
from leadflow.sync.store import StoredMessage

BATCH = 500


@dataclass
class RescanReport:
    examined: int = 0
    leads_created: int = 0
    customers_created: int = 0
    threads_rematched: int = 0


async def rescan_leads(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> RescanReport:
    """Create the leads that stored messages carry but that no lead row exists for yet."""
    report = RescanReport()
    last_id = 0
    while True:
        async with transaction(sessionmaker) as session:
            rows = await _messages_without_lead(session, after_id=last_id)
            if not rows:
                break
            last_id = rows[-1][0].id
            by_mailbox: dict[int, list[StoredMessage]] = {}
            for message, gmail_thread_id in rows:
                by_mailbox.setdefault(message.mailbox_id, []).append(
                    StoredMessage(
                        id=message.id,
                        thread_id=message.thread_id,
                        gmail_message_id=message.gmail_message_id,
                        gmail_thread_id=gmail_thread_id,
                        is_new=False,
                        message=message_from_row(message, gmail_thread_id=gmail_thread_id),
                    )
                )
            for mailbox_id, stored in by_mailbox.items():
                result = await ingest_leads(
                    session, mailbox_id=mailbox_id, messages=stored, settings=settings
                )
                report.examined += result.examined
                report.leads_created += result.leads_created
                report.customers_created += result.customers_created
    if report.leads_created:
        async with transaction(sessionmaker) as session:
            report.threads_rematched = await rematch_after_sync(session, settings)
    return report


async def _messages_without_lead(
    session: AsyncSession, *, after_id: int
) -> list[tuple[EmailMessage, str]]:
    stmt = (
        select(EmailMessage, EmailThread.gmail_thread_id)
        .join(EmailThread, EmailThread.id == EmailMessage.thread_id)
        .outerjoin(
            Lead,
            and_(
                Lead.mailbox_id == EmailMessage.mailbox_id,
                Lead.gmail_message_id == EmailMessage.gmail_message_id,
            ),
        )
        .where(EmailMessage.id > after_id, Lead.id.is_(None))
        .order_by(EmailMessage.id)
        .limit(BATCH)
    )
    return [(message, thread) for message, thread in (await session.execute(stmt)).all()]
