"""A thread linked or unlinked by hand keeps that decision while its mail is away.

A thread's row goes with its last message (deleted, in the bin, in spam). The owner's manual
decision is kept under the thread's Gmail id and given back when the thread's mail returns, so
the matching rules do not decide it again (`sync.manual_decisions`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.mail import service as mail_service
from leadflow.models import Customer, EmailThread, ManualThreadDecision
from leadflow.sync.pipeline import default_processors
from tests.fakes.gmail import FakeMessage
from tests.fakes.gmail_admin import AdminMailbox
from tests.fakes.gmail_wire import make_raw_email
from tests.lock_waits import wait_until_a_backend_waits_for_a_lock
from tests.sync_helpers import Harness, at

RULES_PICK = "kunde@example.net"  # the sender: the email rule matches this customer


async def _sync(harness: Harness, *, full: bool = False) -> None:
    await harness.sync(full=full, processors=default_processors(harness.settings))


async def _customers(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    """The customer the rules pick for the test mail, and the one the owner links by hand."""
    async with sessionmaker() as session:
        picked = Customer(name="Kunde Eksempel", email=RULES_PICK)
        chosen = Customer(name="Hansen Ejendomme", email="drift@hansen-ejendomme.dk")
        session.add_all([picked, chosen])
        await session.commit()
        return picked.id, chosen.id


async def _thread(session: AsyncSession, gmail_thread_id: str) -> EmailThread | None:
    return await session.scalar(
        select(EmailThread).where(EmailThread.gmail_thread_id == gmail_thread_id)
    )


async def _decisions(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ManualThreadDecision)) or 0)


async def _conversation(harness: Harness) -> list[FakeMessage]:
    first = harness.fake.deliver(make_raw_email(date=at(2)))
    reply = harness.fake.deliver(
        make_raw_email(subject="SV: Tilbud på rengøring", date=at(3)), thread_id=first.thread_id
    )
    await _sync(harness)
    return [first, reply]


async def _link_by_hand(harness: Harness, gmail_thread_id: str, customer_id: int | None) -> None:
    async with harness.sessionmaker() as session:
        thread = await _thread(session, gmail_thread_id)
        assert thread is not None
        if customer_id is None:
            await mail_service.unlink(session, thread_id=thread.id)
        else:
            await mail_service.link(session, thread_id=thread.id, customer_id=customer_id)
        await session.commit()


Away = Callable[[AdminMailbox, str], None]


async def _change_all(
    harness: Harness, messages: list[FakeMessage], change: Away, *, full: bool = False
) -> None:
    """Make the same change (bin, rescue, delete …) to every message, then sync."""
    for message in messages:
        change(harness.fake, message.id)
    await _sync(harness, full=full)


BACK: dict[str, tuple[Away, Away]] = {
    "bin": (AdminMailbox.trash, AdminMailbox.untrash),
    "spam": (AdminMailbox.report_spam, AdminMailbox.not_spam),
}


@pytest.mark.parametrize("how", sorted(BACK))
@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
async def test_a_thread_linked_by_hand_comes_back_with_its_link(
    harness: Harness, how: str, full: bool
) -> None:
    picked, chosen = await _customers(harness.sessionmaker)
    messages = await _conversation(harness)
    gmail_thread = messages[0].thread_id
    async with harness.sessionmaker() as session:
        thread = await _thread(session, gmail_thread)
        assert thread is not None
        assert thread.customer_id == picked
    await _link_by_hand(harness, gmail_thread, chosen)
    away, back = BACK[how]

    await _change_all(harness, messages, away)
    async with harness.sessionmaker() as session:
        assert await _thread(session, gmail_thread) is None
        assert await _decisions(session) == 1

    await _change_all(harness, messages, back, full=full)

    async with harness.sessionmaker() as session:
        thread = await _thread(session, gmail_thread)
        assert thread is not None
        assert (thread.customer_id, thread.matched_by, thread.is_matched) == (
            chosen,
            "manual",
            True,
        )
        assert thread.message_count == 2
        owner = await session.get(Customer, chosen)
        assert owner is not None
        assert owner.last_contact_at == at(3)
        assert await _decisions(session) == 0  # given back, not kept twice


async def test_a_thread_unlinked_by_hand_comes_back_unlinked(harness: Harness) -> None:
    await _customers(harness.sessionmaker)
    messages = await _conversation(harness)
    gmail_thread = messages[0].thread_id
    await _link_by_hand(harness, gmail_thread, None)
    await _change_all(harness, messages, AdminMailbox.trash)
    await _change_all(harness, messages, AdminMailbox.untrash)

    async with harness.sessionmaker() as session:
        thread = await _thread(session, gmail_thread)
        assert thread is not None
        assert (thread.customer_id, thread.matched_by, thread.is_matched) == (None, "manual", False)


async def test_a_new_reply_after_every_message_was_deleted_gets_the_link(
    harness: Harness,
) -> None:
    _, chosen = await _customers(harness.sessionmaker)
    messages = await _conversation(harness)
    gmail_thread = messages[0].thread_id
    await _link_by_hand(harness, gmail_thread, chosen)
    await _change_all(harness, messages, AdminMailbox.delete)
    harness.fake.deliver(
        make_raw_email(subject="SV: Tilbud på rengøring", date=at(9)), thread_id=gmail_thread
    )
    await _sync(harness)

    async with harness.sessionmaker() as session:
        thread = await _thread(session, gmail_thread)
        assert thread is not None
        assert (thread.customer_id, thread.matched_by, thread.message_count) == (
            chosen,
            "manual",
            1,
        )


async def test_a_link_to_a_customer_deleted_meanwhile_is_dropped_and_the_rules_decide(
    harness: Harness,
) -> None:
    picked, chosen = await _customers(harness.sessionmaker)
    messages = await _conversation(harness)
    gmail_thread = messages[0].thread_id
    await _link_by_hand(harness, gmail_thread, chosen)
    await _change_all(harness, messages, AdminMailbox.trash)
    async with harness.sessionmaker() as session:
        await session.execute(delete(Customer).where(Customer.id == chosen))
        await session.commit()
        assert await _decisions(session) == 0
    await _change_all(harness, messages, AdminMailbox.untrash)

    async with harness.sessionmaker() as session:
        thread = await _thread(session, gmail_thread)
        assert thread is not None
        assert (thread.customer_id, thread.matched_by) == (picked, "exact_email")


async def test_a_thread_the_rules_matched_leaves_nothing_behind(harness: Harness) -> None:
    picked, _ = await _customers(harness.sessionmaker)
    messages = await _conversation(harness)
    await _change_all(harness, messages, AdminMailbox.trash)
    async with harness.sessionmaker() as session:
        assert await _decisions(session) == 0
    await _change_all(harness, messages, AdminMailbox.untrash)
    async with harness.sessionmaker() as session:
        thread = await _thread(session, messages[0].thread_id)
        assert thread is not None
        assert (thread.customer_id, thread.matched_by) == (picked, "exact_email")


async def test_a_thread_half_in_the_bin_stays_and_keeps_its_link(harness: Harness) -> None:
    _, chosen = await _customers(harness.sessionmaker)
    messages = await _conversation(harness)
    gmail_thread = messages[0].thread_id
    await _link_by_hand(harness, gmail_thread, chosen)
    harness.fake.trash(messages[1].id)
    await _sync(harness)
    async with harness.sessionmaker() as session:
        thread = await _thread(session, gmail_thread)
        assert thread is not None
        assert (thread.customer_id, thread.message_count) == (chosen, 1)
        assert await _decisions(session) == 0


@pytest.mark.postgres_only
async def test_a_link_committed_while_the_sync_waits_to_empty_the_thread_is_kept(
    harness: Harness,
) -> None:
    """The owner links the thread while the sync that bins it waits for the link's locks: the
    sync must read the link once it is committed, not the state before it."""
    picked, chosen = await _customers(harness.sessionmaker)
    messages = await _conversation(harness)
    gmail_thread = messages[0].thread_id
    for message in messages:
        harness.fake.trash(message.id)
    async with harness.sessionmaker() as person, harness.sessionmaker() as observer:
        thread = await _thread(person, gmail_thread)
        assert thread is not None
        assert thread.customer_id == picked
        await mail_service.link(person, thread_id=thread.id, customer_id=chosen)
        sync = asyncio.create_task(_sync(harness))
        await wait_until_a_backend_waits_for_a_lock(observer)
        await person.commit()
    await sync
    await _change_all(harness, messages, AdminMailbox.untrash)

    async with harness.sessionmaker() as session:
        thread = await _thread(session, gmail_thread)
        assert thread is not None
        assert (thread.customer_id, thread.matched_by) == (chosen, "manual")
