"""Thread queries and the manual link/unlink decision. The caller owns the transaction.

Link and unlink re-read the thread under its row lock, so the customer it leaves is the one it
really had: two links at once end with one owner, and only that customer keeps the thread's
last contact date.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.customers import service as customer_service
from leadflow.customers.counters import refresh_counters
from leadflow.errors import NotFound
from leadflow.leads.responses import lock_responses, refresh_for_customers
from leadflow.models import EmailMessage, EmailThread, utcnow
from leadflow.models.locks import lock_for_update

MANUAL = "manual"


def list_query(
    *, matched: bool | None = None, customer_id: int | None = None
) -> Select[EmailThread]:
    """Threads matching the filters, latest activity first; threads without messages last."""
    stmt = select(EmailThread)
    if matched is not None:
        stmt = stmt.where(EmailThread.is_matched.is_(matched))
    if customer_id is not None:
        stmt = stmt.where(EmailThread.customer_id == customer_id)
    return stmt.order_by(EmailThread.last_message_at.desc().nulls_last(), EmailThread.id.desc())


async def get(session: AsyncSession, *, thread_id: int) -> EmailThread:
    thread = await session.get(EmailThread, thread_id)
    if thread is None:
        raise NotFound(f"thread {thread_id} not found", details={"thread_id": thread_id})
    return thread


async def messages_of(session: AsyncSession, *, thread_id: int) -> list[EmailMessage]:
    """The thread's messages in the order they were sent (undated ones last)."""
    return (await messages_of_threads(session, thread_ids=[thread_id])).get(thread_id, [])


async def messages_of_threads(
    session: AsyncSession, *, thread_ids: Sequence[int]
) -> dict[int, list[EmailMessage]]:
    """Each thread's messages in the order they were sent (undated ones last), in one query."""
    if not thread_ids:
        return {}
    stmt = (
        select(EmailMessage)
        .where(EmailMessage.thread_id.in_(thread_ids))
        .order_by(EmailMessage.sent_at.asc().nulls_last(), EmailMessage.id.asc())
    )
    found: dict[int, list[EmailMessage]] = {}
    for message in (await session.execute(stmt)).scalars():
        found.setdefault(message.thread_id, []).append(message)
    return found


async def link(session: AsyncSession, *, thread_id: int, customer_id: int) -> EmailThread:
    """Link the thread to a customer by hand; automatic matching must not undo it."""
    await lock_responses(session)  # before the thread row (`leads.responses`)
    thread = await _locked(session, thread_id=thread_id)
    await customer_service.require_customer(session, customer_id=customer_id)
    previous = thread.customer_id
    thread.customer_id = customer_id
    thread.is_matched = True
    thread.matched_by = MANUAL
    thread.confidence = 1.0
    thread.matched_at = utcnow()
    thread.match_note = None
    await session.flush()
    await refresh_counters(session, [previous, customer_id])
    await refresh_for_customers(session, [previous, customer_id])
    await session.refresh(thread)
    return thread


async def unlink(session: AsyncSession, *, thread_id: int) -> EmailThread:
    """Detach the thread from any customer, recorded as a manual decision so rules leave it be."""
    await lock_responses(session)  # before the thread row (`leads.responses`)
    thread = await _locked(session, thread_id=thread_id)
    previous = thread.customer_id
    thread.customer_id = None
    thread.is_matched = False
    thread.matched_by = MANUAL
    thread.confidence = None
    thread.matched_at = utcnow()
    thread.match_note = None
    await session.flush()
    await refresh_counters(session, [previous])
    await refresh_for_customers(session, [previous])
    await session.refresh(thread)
    return thread


async def _locked(session: AsyncSession, *, thread_id: int) -> EmailThread:
    thread = await lock_for_update(session, EmailThread, thread_id)
    if thread is None:
        raise NotFound(f"thread {thread_id} not found", details={"thread_id": thread_id})
    return thread
