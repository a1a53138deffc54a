"""Mail moving in and out of spam and trash: one rule for full and incremental syncs.

Spam and trash are never stored; mail moved there is removed (its thread and its customer's
counters follow), mail moved out is fetched and stored like new mail and goes through the
processors (leads, matching).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.db import transaction
from leadflow.models import Customer, EmailThread, IngestMode, IngestStatus, Lead
from leadflow.settings import Settings
from leadflow.sync.job import SyncResult
from leadflow.sync.pipeline import default_processors
from tests.fakes.gmail_admin import AdminMailbox
from tests.fakes.gmail_wire import make_raw_email
from tests.lead_samples import LEAD_SAMPLES
from tests.sync_helpers import Harness, at, fake_client_factory, sync_settings

CUSTOMER = "kunde@example.net"
LEAD = next(sample for sample in LEAD_SAMPLES if sample.id == "rengoring-text")


@pytest.fixture
def fake() -> AdminMailbox:
    return AdminMailbox()


@pytest.fixture
def harness(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
    fake: AdminMailbox,
) -> Harness:
    return Harness(fake, sync_settings(settings), sessionmaker, fake_client_factory(fake, tmp_path))


async def sync(harness: Harness, *, full: bool = False) -> SyncResult:
    """A sync with the real processors (leads, matching), as `leadflow sync` runs it."""
    result = await harness.sync(full=full, processors=default_processors(harness.settings))
    assert result.status is IngestStatus.COMPLETED, result.error
    return result


def lead_mail() -> bytes:
    return make_raw_email(
        sender=f"{LEAD.from_name} <{LEAD.from_address}>",
        subject=LEAD.subject,
        body=LEAD.body_text,
        date=LEAD.sent_at,
    )


def customer_mail(day: int, subject: str = "Tilbud") -> bytes:
    return make_raw_email(sender=f"Kunde <{CUSTOMER}>", subject=subject, date=at(day))


async def add_customer(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with transaction(sessionmaker) as session:
        customer = Customer(email=CUSTOMER, name="Kunde")
        session.add(customer)
        await session.flush()
        return customer.id


async def last_contact(sessionmaker: async_sessionmaker[AsyncSession], cid: int) -> datetime | None:
    async with sessionmaker() as session:
        return await session.scalar(select(Customer.last_contact_at).where(Customer.id == cid))


async def leads_of(sessionmaker: async_sessionmaker[AsyncSession], message_id: str) -> list[Lead]:
    async with sessionmaker() as session:
        found = await session.scalars(select(Lead).where(Lead.gmail_message_id == message_id))
        return list(found)


async def test_mail_rescued_from_spam_after_the_full_sync_is_stored_and_becomes_a_lead(
    harness: Harness, fake: AdminMailbox, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    fake.add_synthetic_messages(5)
    lead = fake.deliver(lead_mail(), labels=["SPAM", "CATEGORY_UPDATES"])
    await sync(harness)
    assert lead.id not in (await harness.state()).messages

    fake.not_spam(lead.id)
    result = await sync(harness)

    assert (result.mode, result.new) == (IngestMode.INCREMENTAL, 1)
    state = await harness.state()
    assert state.messages[lead.id]["labels"] == ["CATEGORY_UPDATES", "INBOX"]
    assert state.threads[lead.thread_id]["message_count"] == 1
    [made] = await leads_of(sessionmaker, lead.id)
    assert made.email == "soren.aerbo@example.dk"
    assert made.customer_id is not None


async def test_mail_rescued_from_the_bin_after_the_full_sync_rejoins_its_thread(
    harness: Harness, fake: AdminMailbox
) -> None:
    first = fake.deliver(customer_mail(2))
    reply = fake.deliver(
        make_raw_email(sender="Rendetalje <info@rendetalje.dk>", to=CUSTOMER, date=at(6)),
        labels=["SENT"],
        thread_id=first.thread_id,
    )
    fake.trash(reply.id)
    await sync(harness)
    assert (await harness.state()).threads[first.thread_id]["message_count"] == 1

    fake.untrash(reply.id)
    await sync(harness)

    thread = (await harness.state()).threads[first.thread_id]
    assert thread["message_count"] == 2
    assert thread["last_message_at"] == at(6)


async def test_mail_delivered_straight_into_spam_is_not_fetched_stored_or_made_a_lead(
    harness: Harness, fake: AdminMailbox, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    fake.add_synthetic_messages(3)
    await sync(harness)
    gets = fake.calls["messages.get"]

    spam = fake.deliver(lead_mail(), labels=["SPAM"])
    result = await sync(harness)

    assert (result.mode, result.new) == (IngestMode.INCREMENTAL, 0)
    assert spam.id not in (await harness.state()).messages
    assert await leads_of(sessionmaker, spam.id) == []
    assert fake.calls["messages.get"] == gets  # its history record said SPAM: not even looked at


async def test_mail_moved_to_spam_or_the_bin_leaves_its_thread_and_customer_counters(
    harness: Harness, fake: AdminMailbox, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    customer = await add_customer(sessionmaker)
    first = fake.deliver(customer_mail(2))
    second = fake.deliver(customer_mail(5, "Re: Tilbud"), thread_id=first.thread_id)
    third = fake.deliver(customer_mail(9, "Nyt tilbud"))
    await sync(harness)
    assert await last_contact(sessionmaker, customer) == at(9)

    fake.trash(third.id)
    fake.report_spam(second.id)
    await sync(harness)

    state = await harness.state()
    assert set(state.messages) == {first.id}
    assert third.thread_id not in state.threads
    thread = state.threads[first.thread_id]
    assert (thread["message_count"], thread["last_message_at"]) == (1, at(2))
    assert await last_contact(sessionmaker, customer) == at(2)


async def test_deleting_a_customers_only_mail_clears_its_last_contact(
    harness: Harness, fake: AdminMailbox, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    customer = await add_customer(sessionmaker)
    only = fake.deliver(customer_mail(4))
    await sync(harness)
    async with sessionmaker() as session:
        linked = await session.scalar(select(EmailThread.customer_id))
    assert linked == customer
    assert await last_contact(sessionmaker, customer) == at(4)

    fake.delete(only.id)
    await sync(harness)

    assert (await harness.state()).threads == {}
    assert await last_contact(sessionmaker, customer) is None


async def test_a_full_resync_after_lost_history_applies_the_same_rule(
    harness: Harness, fake: AdminMailbox
) -> None:
    messages = fake.add_synthetic_messages(8, replies_every=0)
    spam = fake.deliver(customer_mail(3), labels=["SPAM"])
    await sync(harness)
    fake.report_spam(messages[0].id)
    await sync(harness)
    fake.trash(messages[1].id)
    fake.not_spam(spam.id)
    fake.expire_history(fake.history_id)

    result = await sync(harness)

    assert result.mode is IngestMode.FULL
    state = await harness.state()
    assert set(state.messages) == set(fake.visible())
    assert {mid: m["labels"] for mid, m in state.messages.items()} == {
        mid: m.label_ids for mid, m in fake.visible().items()
    }
