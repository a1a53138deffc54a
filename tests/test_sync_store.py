"""Storing parsed messages: exactly-once upserts and true thread aggregates."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.db import transaction
from leadflow.mail.message import Address, ParsedMessage
from leadflow.models import Direction, EmailMessage, EmailThread, Mailbox, MailProvider
from leadflow.sync.store import (
    LabelChange,
    apply_label_changes,
    delete_messages,
    store_messages,
)
from leadflow.sync.thread_aggregates import normalise_subject
from tests.sync_helpers import at, mailbox_state

MAILBOX = "info@rendetalje.dk"


def parsed(gid: str, thread: str, **fields: Any) -> ParsedMessage:
    values: dict[str, Any] = {
        "gmail_message_id": gid,
        "gmail_thread_id": thread,
        "rfc822_message_id": f"{gid}@example.net",
        "in_reply_to": None,
        "references": (),
        "from_address": Address("kunde@example.net", "Kunde"),
        "to": (Address(MAILBOX),),
        "cc": (),
        "reply_to": (),
        "subject": f"Tilbud {gid}",
        "body_text": "Hej",
        "body_truncated": False,
        "snippet": f"snippet {gid}",
        "direction": Direction.INBOUND,
        "labels": ("INBOX",),
        "attachments": (),
        "size_bytes": 100,
        "sent_at": at(2),
        "history_id": "1",
    }
    values.update(fields)
    return ParsedMessage(**values)


async def new_mailbox(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with transaction(sessionmaker) as session:
        box = Mailbox(email=MAILBOX, provider=MailProvider.GMAIL)
        session.add(box)
        await session.flush()
        return box.id


async def store(
    sessionmaker: async_sessionmaker[AsyncSession], mailbox_id: int, *msgs: ParsedMessage
) -> tuple[int, int, int]:
    async with transaction(sessionmaker) as session:
        result = await store_messages(session, mailbox_id=mailbox_id, messages=msgs)
    return result.new, result.updated, result.unchanged


async def test_it_stores_messages_and_builds_thread_aggregates(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    box = await new_mailbox(sessionmaker)
    first = parsed(
        "m1",
        "t1",
        subject="Tilbud på  rengøring",
        from_address=Address("Kunde@Example.net", "Kunde"),
        labels=("INBOX", "CATEGORY_UPDATES"),
        sent_at=at(2),
    )
    reply = parsed(
        "m2",
        "t1",
        subject="SV: Re: Tilbud på rengøring",
        from_address=Address("info@rendetalje.dk"),
        to=(Address("kunde@example.net"),),
        cc=(Address("kollega@example.net"),),
        labels=("SENT",),
        direction=Direction.OUTBOUND,
        sent_at=at(3),
        snippet="Tak for din henvendelse",
    )

    assert await store(sessionmaker, box, reply, first) == (2, 0, 0)

    async with sessionmaker() as session:
        state = await mailbox_state(session, MAILBOX)
    thread = state.threads["t1"]
    assert thread["message_count"] == 2
    assert thread["last_message_at"] == at(3)
    assert thread["subject"] == "Tilbud på rengøring"
    assert thread["snippet"] == "Tak for din henvendelse"
    assert thread["participants"] == [
        "kunde@example.net",
        "info@rendetalje.dk",
        "kollega@example.net",
    ]
    assert thread["labels"] == ["CATEGORY_UPDATES", "INBOX", "SENT"]


async def test_storing_the_same_messages_again_changes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    box = await new_mailbox(sessionmaker)
    msgs = [parsed(f"m{n}", f"t{n % 3}") for n in range(10)]
    assert await store(sessionmaker, box, *msgs) == (10, 0, 0)
    async with sessionmaker() as session:
        before = await mailbox_state(session, MAILBOX)

    assert await store(sessionmaker, box, *msgs) == (0, 0, 10)

    async with sessionmaker() as session:
        after = await mailbox_state(session, MAILBOX)
        rows = await session.scalar(select(func.count()).select_from(EmailMessage))
    assert after == before
    assert rows == 10


async def test_a_message_twice_in_one_batch_is_stored_once(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    box = await new_mailbox(sessionmaker)
    msg = parsed("m1", "t1")

    assert await store(sessionmaker, box, msg, replace(msg, labels=("INBOX", "STARRED"))) == (
        1,
        0,
        0,
    )

    async with sessionmaker() as session:
        state = await mailbox_state(session, MAILBOX)
    assert state.message_rows == 1
    assert state.messages["m1"]["labels"] == ["INBOX", "STARRED"]


async def test_a_message_with_new_labels_is_updated_and_its_thread_too(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    box = await new_mailbox(sessionmaker)
    await store(sessionmaker, box, parsed("m1", "t1"))

    assert await store(
        sessionmaker, box, parsed("m1", "t1", labels=("INBOX", "STARRED"), history_id="9")
    ) == (0, 1, 0)

    async with sessionmaker() as session:
        state = await mailbox_state(session, MAILBOX)
    assert state.messages["m1"]["labels"] == ["INBOX", "STARRED"]
    assert state.threads["t1"]["labels"] == ["INBOX", "STARRED"]


async def test_deleting_messages_fixes_the_thread_and_drops_an_empty_one(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    box = await new_mailbox(sessionmaker)
    await store(
        sessionmaker,
        box,
        parsed("m1", "t1", sent_at=at(2), snippet="first"),
        parsed("m2", "t1", sent_at=at(4), snippet="second"),
        parsed("m3", "t2"),
    )

    async with transaction(sessionmaker) as session:
        deleted = await delete_messages(
            session, mailbox_id=box, gmail_message_ids=["m2", "m3", "not-stored"]
        )

    assert deleted == 2
    async with sessionmaker() as session:
        state = await mailbox_state(session, MAILBOX)
        threads = await session.scalar(select(func.count()).select_from(EmailThread))
    assert set(state.messages) == {"m1"}
    assert threads == 1
    assert state.threads["t1"]["message_count"] == 1
    assert state.threads["t1"]["last_message_at"] == at(2)
    assert state.threads["t1"]["snippet"] == "first"


async def test_label_changes_apply_in_order_and_update_the_thread(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    box = await new_mailbox(sessionmaker)
    await store(sessionmaker, box, parsed("m1", "t1", labels=("INBOX", "UNREAD")))
    change = LabelChange((("add", ("STARRED",)), ("remove", ("UNREAD",)), ("add", ("UNREAD",))))

    async with transaction(sessionmaker) as session:
        changed = await apply_label_changes(
            session, mailbox_id=box, changes={"m1": change, "gone": change}
        )

    assert (changed.relabelled, changed.removed) == (1, 0)
    async with sessionmaker() as session:
        state = await mailbox_state(session, MAILBOX)
    assert state.messages["m1"]["labels"] == ["INBOX", "STARRED", "UNREAD"]
    assert state.threads["t1"]["labels"] == ["INBOX", "STARRED", "UNREAD"]


async def test_messages_of_two_mailboxes_with_the_same_id_stay_apart(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first = await new_mailbox(sessionmaker)
    async with transaction(sessionmaker) as session:
        other = Mailbox(email="other@example.dk", provider=MailProvider.MBOX)
        session.add(other)
        await session.flush()
        second = other.id

    await store(sessionmaker, first, parsed("m1", "t1"))
    assert await store(sessionmaker, second, parsed("m1", "t1")) == (1, 0, 0)

    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(EmailMessage)) == 2
        assert await session.scalar(select(func.count()).select_from(EmailThread)) == 2


def test_a_thread_subject_drops_reply_and_forward_prefixes() -> None:
    assert normalise_subject("SV: Re:  Fwd: Tilbud   på rengøring ") == "Tilbud på rengøring"
    assert normalise_subject("VS: Re[2]: Pris") == "Pris"
    assert normalise_subject("Reklamation") == "Reklamation"
    assert normalise_subject("   ") is None
    assert normalise_subject(None) is None


def test_label_change_set_replaces_the_labels() -> None:
    change = LabelChange((("set", ("INBOX", "INBOX", "IMPORTANT")),))
    assert change.apply(["SPAM"]) == ["INBOX", "IMPORTANT"]
