"""Row factories for tests: they add and flush; commit when the app must see the rows."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import (
    Customer,
    Direction,
    EmailMessage,
    EmailThread,
    Lead,
    Mailbox,
    MailProvider,
)

_seq = itertools.count(1)


async def make_customer(session: AsyncSession, **fields: Any) -> Customer:
    n = next(_seq)
    values: dict[str, Any] = {"name": f"Kunde {n}", "email": f"kunde{n}@example.dk"}
    values.update(fields)
    customer = Customer(**values)
    session.add(customer)
    await session.flush()
    return customer


async def make_mailbox(session: AsyncSession, **fields: Any) -> Mailbox:
    n = next(_seq)
    values: dict[str, Any] = {"email": f"mailbox{n}@example.dk", "provider": MailProvider.GMAIL}
    values.update(fields)
    mailbox = Mailbox(**values)
    session.add(mailbox)
    await session.flush()
    return mailbox


async def make_thread(
    session: AsyncSession, *, mailbox_id: int | None = None, **fields: Any
) -> EmailThread:
    """A thread in `mailbox_id`, or in a new mailbox when none is given."""
    if mailbox_id is None:
        mailbox_id = (await make_mailbox(session)).id
    n = next(_seq)
    values: dict[str, Any] = {
        "mailbox_id": mailbox_id,
        "gmail_thread_id": f"thread-{n}",
        "subject": f"Tilbud på rengøring {n}",
    }
    values.update(fields)
    thread = EmailThread(**values)
    session.add(thread)
    await session.flush()
    return thread


async def make_message(
    session: AsyncSession, *, thread: EmailThread, sent_at: datetime | None, **fields: Any
) -> EmailMessage:
    n = next(_seq)
    values: dict[str, Any] = {
        "thread_id": thread.id,
        "mailbox_id": thread.mailbox_id,
        "gmail_message_id": f"message-{n}",
        "from_address": f"sender{n}@example.dk",
        "subject": thread.subject,
        "body_text": f"Besked nummer {n}",
        "direction": Direction.INBOUND,
        "sent_at": sent_at,
    }
    values.update(fields)
    message = EmailMessage(**values)
    session.add(message)
    await session.flush()
    return message


async def make_lead(session: AsyncSession, **fields: Any) -> Lead:
    n = next(_seq)
    values: dict[str, Any] = {
        "source": "manual",
        "name": f"Lead {n}",
        "email": f"lead{n}@example.dk",
    }
    values.update(fields)
    lead = Lead(**values)
    session.add(lead)
    await session.flush()
    return lead
