"""Lead response time: the pure rule, and first_response_at kept true by every write path.

The property test stores replies, deletes them, creates the lead and links a thread in a random
order, each step its own transaction as separate syncs would be, and compares the stored
first_response_at with a brute-force answer over the database's final state.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leadflow.db import transaction
from leadflow.leads.ingest import find_lead, ingest_leads
from leadflow.leads.response_time import (
    LeadFacts,
    MessageFacts,
    answers,
    first_response_at,
    first_responses,
    percentile,
    response_seconds,
)
from leadflow.mail import service as thread_service
from leadflow.mail.message import Address, ParsedMessage
from leadflow.mail.mime import parse_message
from leadflow.maintenance.sample_mailbox import build_sample_mailbox
from leadflow.models import Direction, EmailMessage, EmailThread, Lead, Mailbox, MailProvider
from leadflow.settings import Settings
from leadflow.sync.store import delete_messages, store_messages
from tests.db_reset import reset
from tests.test_sync_store import parsed

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
OWN = "info@rendetalje.dk"


def _lead(**fields: object) -> LeadFacts:
    values: dict[str, object] = {
        "id": 1,
        "received_at": T0,
        "mailbox_id": 1,
        "gmail_thread_id": "t-lead",
        "email": "kunde@example.dk",
        "customer_id": 7,
    }
    values.update(fields)
    return LeadFacts(**values)  # type: ignore[arg-type]


def _reply(**fields: object) -> MessageFacts:
    values: dict[str, object] = {
        "mailbox_id": 1,
        "gmail_message_id": "r1",
        "gmail_thread_id": "t-lead",
        "direction": Direction.OUTBOUND,
        "sent_at": T0 + timedelta(minutes=30),
    }
    values.update(fields)
    return MessageFacts(**values)  # type: ignore[arg-type]


def test_a_reply_in_the_leads_thread_answers_it() -> None:
    assert answers(_lead(), _reply())


def test_an_inbound_message_never_answers() -> None:
    assert not answers(_lead(), _reply(direction=Direction.INBOUND))


def test_a_reply_sent_before_or_at_the_arrival_does_not_answer() -> None:
    assert not answers(_lead(), _reply(sent_at=T0))
    assert not answers(_lead(), _reply(sent_at=T0 - timedelta(minutes=1)))
    assert not answers(_lead(), _reply(sent_at=None))
    assert not answers(_lead(received_at=None), _reply())


def test_a_lead_notification_from_an_own_domain_is_no_answer() -> None:
    assert not answers(_lead(), _reply(is_lead_source=True))


def test_the_same_thread_id_in_another_mailbox_is_another_thread() -> None:
    assert not answers(_lead(), _reply(mailbox_id=2))


def test_mail_to_the_leads_address_or_in_the_customers_threads_answers() -> None:
    elsewhere = {"gmail_thread_id": "t-other"}
    assert not answers(_lead(), _reply(**elsewhere))
    assert answers(_lead(), _reply(**elsewhere, recipients=("kunde@example.dk",)))
    assert answers(
        _lead(email=" Kunde@Example.DK "), _reply(**elsewhere, recipients=("kunde@example.dk",))
    )
    assert answers(_lead(), _reply(**elsewhere, thread_customer_id=7))
    assert not answers(_lead(customer_id=None), _reply(**elsewhere, thread_customer_id=7))


def test_the_earliest_answer_wins_and_the_index_finds_the_same() -> None:
    replies = [
        _reply(gmail_message_id="late", sent_at=T0 + timedelta(hours=3)),
        _reply(gmail_message_id="early", gmail_thread_id="x", recipients=("kunde@example.dk",)),
        _reply(gmail_message_id="inbound", direction=Direction.INBOUND, sent_at=T0 + timedelta(1)),
    ]
    assert first_response_at(_lead(), replies) == T0 + timedelta(minutes=30)
    assert first_responses([_lead(), _lead(id=2, email=None)], replies) == {
        1: T0 + timedelta(minutes=30),
        2: T0 + timedelta(hours=3),
    }


def test_response_seconds_and_percentiles() -> None:
    assert response_seconds(T0, T0 + timedelta(minutes=90)) == 5400
    assert response_seconds(T0, None) is None
    assert percentile([], 0.5) is None
    assert percentile([10.0, 20.0, 30.0, 40.0], 0.5) == 25.0
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([0.0, 100.0], 0.9) == pytest.approx(90.0)


# --- the database keeps it true --------------------------------------------------------------


def _lead_mail(settings: Settings) -> tuple[ParsedMessage, str, datetime]:
    """A real lead email from the sample mailbox, in thread "t-lead", with its email and time."""
    sample = next(m for m in build_sample_mailbox(seed=11, customers=4).messages if m.lead)
    message = parse_message(
        sample.raw,
        gmail_message_id="lead",
        gmail_thread_id="t-lead",
        own_domains=settings.own_domains,
    )
    lead = find_lead(message, settings)
    assert lead is not None
    assert lead.email
    assert lead.received_at
    return message, lead.email, lead.received_at


def _message(
    gid: str, thread: str, outbound: bool, to_lead: bool, at: datetime, email: str
) -> ParsedMessage:
    sender = Address(OWN) if outbound else Address("someone@example.net")
    return parsed(
        gid,
        thread,
        from_address=sender,
        to=(Address(email if to_lead else "andre@example.net"),),
        direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
        labels=("SENT",) if outbound else ("INBOX",),
        sent_at=at,
    )


async def _oracle(session: AsyncSession) -> datetime | None:
    """Brute force over the final state: every stored message checked against the lead."""
    lead = (await session.execute(select(Lead))).scalar_one()
    rows = await session.execute(
        select(EmailMessage, EmailThread).join(
            EmailThread, EmailThread.id == EmailMessage.thread_id
        )
    )
    sources = set((await session.execute(select(Lead.gmail_message_id))).scalars())
    best: datetime | None = None
    for message, thread in rows:
        if message.direction != Direction.OUTBOUND or message.gmail_message_id in sources:
            continue
        if (
            message.sent_at is None
            or lead.received_at is None
            or message.sent_at <= lead.received_at
        ):
            continue
        mine = (
            thread.gmail_thread_id == lead.gmail_thread_id
            or (lead.customer_id is not None and thread.customer_id == lead.customer_id)
            or lead.email in [*message.to_addresses, *message.cc_addresses]
        )
        if mine and (best is None or message.sent_at < best):
            best = message.sent_at
    return best


reply_specs = st.lists(
    st.tuples(
        st.sampled_from(["t-lead", "t-other", "t-linked"]),
        st.booleans(),  # outbound
        st.booleans(),  # addressed to the lead
        st.integers(-120, 600),  # minutes after the lead arrived
        st.booleans(),  # deleted again later
    ),
    max_size=7,
)


@settings(
    max_examples=60,
    deadline=None,
    # The database is reset by the test itself at the start of every example.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=reply_specs, data=st.data())
async def test_first_response_at_matches_a_brute_force_answer_in_any_order(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    specs: list[tuple[str, bool, bool, int, bool]],
    data: st.DataObject,
) -> None:
    await reset(engine)
    lead_mail, email, arrived = _lead_mail(settings)
    async with transaction(sessionmaker) as session:
        box = Mailbox(email=OWN, provider=MailProvider.GMAIL)
        session.add(box)
        await session.flush()
        mailbox_id = box.id
    messages = [
        _message(f"m{i}", thread, out, to_lead, arrived + timedelta(minutes=minutes), email)
        for i, (thread, out, to_lead, minutes, _) in enumerate(specs)
    ]
    events: list[tuple[str, int]] = [("store", i) for i in range(len(specs))]
    events += [("delete", i) for i, spec in enumerate(specs) if spec[4]]
    events += [("lead", 0), ("link", 0)]
    # Several messages per transaction sometimes, as a sync batch stores them.
    order = data.draw(st.permutations(events))
    cut = data.draw(st.sets(st.integers(1, max(1, len(order) - 1))))
    steps: list[list[tuple[str, int]]] = [[]]
    for position, event in enumerate(order):
        if position in cut:
            steps.append([])
        steps[-1].append(event)
    for step in steps:
        async with transaction(sessionmaker) as session:
            for kind, i in step:
                await _apply(
                    session,
                    settings,
                    mailbox_id,
                    kind,
                    messages[i] if messages else None,
                    lead_mail,
                )
    async with sessionmaker() as session:
        stored = (await session.execute(select(Lead.first_response_at))).scalar_one()
        assert stored == await _oracle(session)


async def _apply(
    session: AsyncSession,
    settings: Settings,
    mailbox_id: int,
    kind: str,
    message: ParsedMessage | None,
    lead_mail: ParsedMessage,
) -> None:
    if kind == "store" and message is not None:
        await store_messages(session, mailbox_id=mailbox_id, messages=[message])
    elif kind == "delete" and message is not None:
        await delete_messages(
            session, mailbox_id=mailbox_id, gmail_message_ids=[message.gmail_message_id]
        )
    elif kind == "lead":
        result = await store_messages(session, mailbox_id=mailbox_id, messages=[lead_mail])
        await ingest_leads(
            session, mailbox_id=mailbox_id, messages=result.stored, settings=settings
        )
    elif kind == "link":
        customer = await session.scalar(select(Lead.customer_id))
        thread = await session.scalar(
            select(EmailThread.id).where(EmailThread.gmail_thread_id == "t-linked")
        )
        if customer is not None and thread is not None:
            await thread_service.link(session, thread_id=thread, customer_id=customer)


async def test_the_lead_gets_a_reply_stored_before_it_and_loses_it_when_deleted(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    lead_mail, email, arrived = _lead_mail(settings)
    async with transaction(sessionmaker) as session:
        box = Mailbox(email=OWN, provider=MailProvider.GMAIL)
        session.add(box)
        await session.flush()
        mailbox_id = box.id
        first = _message("r1", "t-x", True, True, arrived + timedelta(minutes=20), email)
        second = _message("r2", "t-lead", True, False, arrived + timedelta(minutes=50), email)
        await store_messages(session, mailbox_id=mailbox_id, messages=[first, second])
        await _apply(session, settings, mailbox_id, "lead", None, lead_mail)
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(Lead.first_response_at)) == first.sent_at
        await delete_messages(session, mailbox_id=mailbox_id, gmail_message_ids=["r1"])
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(Lead.first_response_at)) == second.sent_at
        await delete_messages(session, mailbox_id=mailbox_id, gmail_message_ids=["r2"])
    async with sessionmaker() as session:
        assert await session.scalar(select(Lead.first_response_at)) is None


@pytest.mark.postgres_only
async def test_a_reply_stored_while_the_lead_is_created_is_not_missed(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    lead_mail, email, arrived = _lead_mail(settings)
    async with transaction(sessionmaker) as session:
        box = Mailbox(email=OWN, provider=MailProvider.GMAIL)
        session.add(box)
        await session.flush()
        mailbox_id = box.id
    other = Mailbox(email="sales@rendetalje.dk", provider=MailProvider.GMAIL)
    async with transaction(sessionmaker) as session:
        session.add(other)
        await session.flush()
        other_id = other.id
    reply = _message("r1", "t-sales", True, True, arrived + timedelta(minutes=5), email)

    async def create_lead() -> None:
        async with transaction(sessionmaker) as session:
            await _apply(session, settings, mailbox_id, "lead", None, lead_mail)

    # The reply's transaction stores first and stays open while the lead is created.
    async with sessionmaker() as replying:
        async with replying.begin():
            await store_messages(replying, mailbox_id=other_id, messages=[reply])
            creating = asyncio.create_task(create_lead())
            await _until_waiting_or_done(engine, creating)
        await creating
    async with sessionmaker() as session:
        assert await session.scalar(select(Lead.first_response_at)) == reply.sent_at


async def _until_waiting_or_done(engine: AsyncEngine, task: asyncio.Task[None]) -> None:
    """Return once `task` waits for a lock held by another transaction, or has finished."""
    query = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    for _ in range(2000):
        if task.done():
            return
        async with engine.connect() as conn:
            if (await conn.execute(query)).scalar_one():
                return
        await asyncio.sleep(0.005)
    raise AssertionError("the lead's transaction neither finished nor waited for the reply's")
