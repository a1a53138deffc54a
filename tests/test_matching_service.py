"""Matching over the database: decisions saved, reruns, manual precedence, bounded queries."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leadflow.mail import service as mail_service
from leadflow.matching.service import match_threads, matching_stats
from leadflow.models import Customer, Direction, EmailMessage, EmailThread, Lead, Mailbox
from leadflow.models.enums import MailProvider
from leadflow.settings import Settings
from tests.lock_waits import wait_until_a_backend_waits_for_a_lock

NOW = datetime(2025, 10, 9, 12, 0, tzinfo=UTC)
_seq = itertools.count(1)


async def make_mailbox(session: AsyncSession) -> Mailbox:
    mailbox = Mailbox(email=f"info{next(_seq)}@rendetalje.dk", provider=MailProvider.GMAIL)
    session.add(mailbox)
    await session.flush()
    return mailbox


async def make_customer(
    session: AsyncSession, email: str | None = None, phone: str | None = None
) -> Customer:
    customer = Customer(name=f"Kunde {next(_seq)}", email=email, phone=phone)
    session.add(customer)
    await session.flush()
    return customer


async def make_thread(
    session: AsyncSession, mailbox: Mailbox, participants: list[str], **kwargs: Any
) -> EmailThread:
    kwargs.setdefault("gmail_thread_id", f"t{next(_seq)}")
    thread = EmailThread(mailbox_id=mailbox.id, participants=participants, **kwargs)
    session.add(thread)
    await session.flush()
    return thread


async def make_message(
    session: AsyncSession,
    thread: EmailThread,
    *,
    from_address: str = "someone@example.org",
    direction: Direction = Direction.INBOUND,
    body: str | None = None,
    rfc822_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
) -> EmailMessage:
    message = EmailMessage(
        thread_id=thread.id,
        mailbox_id=thread.mailbox_id,
        gmail_message_id=f"m{next(_seq)}",
        rfc822_message_id=rfc822_id or f"<m{next(_seq)}@mail.example>",
        in_reply_to=in_reply_to,
        references=references or [],
        from_address=from_address,
        direction=direction,
        body_text=body,
    )
    session.add(message)
    await session.flush()
    return message


async def make_lead(
    session: AsyncSession,
    thread: EmailThread,
    *,
    email: str | None,
    customer_id: int | None = None,
) -> Lead:
    lead = Lead(
        source="Rengøring.nu",
        email=email,
        customer_id=customer_id,
        mailbox_id=thread.mailbox_id,
        gmail_message_id=f"m{next(_seq)}",
        gmail_thread_id=thread.gmail_thread_id,
    )
    session.add(lead)
    await session.flush()
    return lead


async def state(session: AsyncSession, thread_id: int) -> EmailThread:
    stmt = (
        select(EmailThread)
        .where(EmailThread.id == thread_id)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one()


async def run(session: AsyncSession, settings: Settings, **kwargs: Any) -> Any:
    report = await match_threads(session, settings=settings, now=NOW, **kwargs)
    await session.commit()
    return report


async def test_it_saves_a_match_per_rule_with_its_confidence(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    freja = await make_customer(session, "freja.holm@gmail.com")
    bo = await make_customer(session, "bo@tagrenderne.dk", "+4533445566")
    ida = await make_customer(session, "ida.berg@hotmail.dk", "+4540506070")
    lead_thread = await make_thread(session, mailbox, ["system@leadmail.no", "info@rendetalje.dk"])
    await make_lead(session, lead_thread, email="freja.holm@gmail.com")
    email_thread = await make_thread(session, mailbox, ["bo@tagrenderne.dk", "info@rendetalje.dk"])
    phone_thread = await make_thread(session, mailbox, ["ukendt@gmail.com"])
    await make_message(session, phone_thread, body="Hej, mit nummer er +45 40 50 60 70")
    domain_thread = await make_thread(session, mailbox, ["regnskab@tagrenderne.dk"])
    await session.commit()

    report = await run(session, settings)

    expected = {
        lead_thread.id: (freja.id, "lead", 1.0),
        email_thread.id: (bo.id, "exact_email", 1.0),
        phone_thread.id: (ida.id, "phone", 0.9),
        domain_thread.id: (bo.id, "domain", 0.8),
    }
    for thread_id, (customer_id, rule, confidence) in expected.items():
        thread = await state(session, thread_id)
        assert (thread.customer_id, thread.matched_by, thread.confidence) == (
            customer_id,
            rule,
            confidence,
        )
        assert thread.is_matched
        assert thread.matched_at == NOW
        assert thread.match_note is None
    assert report.matched_by_rule == {"lead": 1, "exact_email": 1, "phone": 1, "domain": 1}
    assert (report.examined, report.matched, report.changed) == (4, 4, 4)


async def test_a_phone_in_an_outbound_message_does_not_match(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    await make_customer(session, "ida.berg@hotmail.dk", "+4540506070")
    thread = await make_thread(session, mailbox, ["ukendt@gmail.com", "info@rendetalje.dk"])
    await make_message(
        session, thread, direction=Direction.OUTBOUND, body="Ring til Ida på 40 50 60 70"
    )
    await session.commit()

    report = await run(session, settings)

    assert not (await state(session, thread.id)).is_matched
    assert report.unmatched == 1


async def test_an_ambiguous_thread_stays_unmatched_with_the_reason(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    anna = await make_customer(session, "anna@byggefirma.dk")
    ole = await make_customer(session, "ole@byggefirma.dk")
    thread = await make_thread(session, mailbox, ["anna@byggefirma.dk", "ole@byggefirma.dk"])
    await session.commit()

    report = await run(session, settings)

    saved = await state(session, thread.id)
    assert not saved.is_matched
    assert saved.customer_id is None
    assert saved.matched_by is None
    assert saved.match_note == f"exact_email: 2 candidates (ids {anna.id}, {ole.id})"
    assert report.ambiguous == 1


async def test_a_reply_matches_the_customer_of_the_thread_it_answers(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    bo = await make_customer(session, "bo@tagrenderne.dk")
    original = await make_thread(session, mailbox, ["bo@tagrenderne.dk"])
    await make_message(session, original, rfc822_id="<tilbud-1@rendetalje.dk>")
    reply = await make_thread(session, mailbox, ["bo.privat@gmail.com"])
    await make_message(session, reply, in_reply_to="<tilbud-1@rendetalje.dk>")
    await session.commit()

    report = await run(session, settings)

    saved = await state(session, reply.id)
    assert (saved.customer_id, saved.matched_by, saved.confidence) == (bo.id, "reply_chain", 0.95)
    assert report.matched_by_rule == {"exact_email": 1, "reply_chain": 1}


async def test_a_reply_to_a_thread_matched_later_in_the_run_beats_a_weaker_phone_match(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    bo = await make_customer(session, "bo@tagrenderne.dk", "+4533445566")
    # The replies have lower ids, so they are examined before the thread they answer is matched;
    # the reply's phone match in the first pass gives way to the stronger reply_chain later.
    second_reply = await make_thread(session, mailbox, ["kontakt@gmail.com"])
    reply = await make_thread(session, mailbox, ["bo.privat@gmail.com"])
    original = await make_thread(session, mailbox, ["bo@tagrenderne.dk"])
    await make_message(session, original, rfc822_id="tilbud-7@rendetalje.dk")
    await make_message(
        session, reply, rfc822_id="<svar-7@gmail.com>", references=["<tilbud-7@rendetalje.dk>"]
    )
    await make_message(session, second_reply, in_reply_to="<svar-7@gmail.com>")
    await make_message(session, reply, body="ring på 33 44 55 66")
    await session.commit()

    report = await run(session, settings, batch_size=1)

    for thread in (reply, second_reply):
        saved = await state(session, thread.id)
        assert (saved.customer_id, saved.matched_by) == (bo.id, "reply_chain")
    assert report.matched_by_rule == {"exact_email": 1, "reply_chain": 2}
    assert (report.examined, report.unmatched) == (3, 0)


async def test_a_chain_of_replies_is_followed_across_several_passes(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    bo = await make_customer(session, "bo@tagrenderne.dk")
    # Each reply has a lower id than the message it answers: one more hop resolves per pass.
    replies = [await make_thread(session, mailbox, [f"svar{n}@gmail.com"]) for n in range(3)]
    original = await make_thread(session, mailbox, ["bo@tagrenderne.dk"])
    await make_message(session, original, rfc822_id="<hop-3@x.example>")
    for n, reply in enumerate(replies):
        await make_message(
            session, reply, rfc822_id=f"<hop-{n}@x.example>", in_reply_to=f"<hop-{n + 1}@x.example>"
        )
    await session.commit()

    report = await run(session, settings)

    for reply in replies:
        assert (await state(session, reply.id)).customer_id == bo.id
    assert report.matched_by_rule == {"exact_email": 1, "reply_chain": 3}


async def test_replies_to_threads_of_different_customers_are_ambiguous(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    bo = await make_customer(session, "bo@tagrenderne.dk")
    ida = await make_customer(session, "ida@solsikkehaven.dk")
    first = await make_thread(session, mailbox, ["bo@tagrenderne.dk"])
    await make_message(session, first, rfc822_id="<a@x.example>")
    second = await make_thread(session, mailbox, ["ida@solsikkehaven.dk"])
    await make_message(session, second, rfc822_id="<b@x.example>")
    mixed = await make_thread(session, mailbox, ["nogen@gmail.com"])
    await make_message(session, mixed, references=["<a@x.example>", "<b@x.example>"])
    await session.commit()

    await run(session, settings)

    saved = await state(session, mixed.id)
    assert not saved.is_matched
    assert saved.match_note == f"reply_chain: 2 candidates (ids {bo.id}, {ida.id})"


async def test_a_lead_in_the_thread_matches_through_mailbox_and_gmail_thread_id(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    other_mailbox = await make_mailbox(session)
    freja = await make_customer(session, "freja.holm@gmail.com")
    thread = await make_thread(
        session, mailbox, ["system@leadmail.no"], gmail_thread_id="shared-gmail-id"
    )
    same_id_elsewhere = await make_thread(
        session, other_mailbox, ["system@leadmail.no"], gmail_thread_id="shared-gmail-id"
    )
    await make_lead(session, thread, email="freja.holm@gmail.com")
    await session.commit()

    await run(session, settings)

    assert (await state(session, thread.id)).customer_id == freja.id
    assert not (await state(session, same_id_elsewhere.id)).is_matched


async def test_a_customer_created_later_makes_an_earlier_thread_matchable(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    thread = await make_thread(session, mailbox, ["karl.vinter@hotmail.dk"])
    await session.commit()
    first = await run(session, settings)
    assert first.unmatched == 1

    karl = await make_customer(session, "karl.vinter@hotmail.dk")
    await session.commit()
    second = await run(session, settings)

    saved = await state(session, thread.id)
    assert (saved.customer_id, saved.matched_by) == (karl.id, "exact_email")
    assert second.matched_by_rule == {"exact_email": 1}


async def test_a_rerun_changes_nothing(session: AsyncSession, settings: Settings) -> None:
    mailbox = await make_mailbox(session)
    await make_customer(session, "bo@tagrenderne.dk")
    await make_thread(session, mailbox, ["bo@tagrenderne.dk"])
    await make_thread(session, mailbox, ["ukendt@gmail.com"])
    await session.commit()
    await run(session, settings)

    again = await run(session, settings, only_unmatched=False)

    assert again.changed == 0
    assert again.examined == 2


async def test_manual_links_and_unlinks_survive_a_full_rematch(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    bo = await make_customer(session, "bo@tagrenderne.dk")
    ida = await make_customer(session, "ida@solsikkehaven.dk")
    linked = await make_thread(
        session,
        mailbox,
        ["bo@tagrenderne.dk"],
        customer_id=ida.id,
        is_matched=True,
        matched_by="manual",
        confidence=1.0,
    )
    unlinked = await make_thread(
        session, mailbox, ["bo@tagrenderne.dk"], is_matched=False, matched_by="manual"
    )
    automatic = await make_thread(
        session,
        mailbox,
        ["bo@tagrenderne.dk"],
        customer_id=ida.id,
        is_matched=True,
        matched_by="domain",
        confidence=0.8,
    )
    await session.commit()

    report = await run(session, settings, only_unmatched=False)

    assert (await state(session, linked.id)).customer_id == ida.id
    assert (await state(session, linked.id)).matched_by == "manual"
    kept_unlinked = await state(session, unlinked.id)
    assert (kept_unlinked.customer_id, kept_unlinked.is_matched) == (None, False)
    assert (await state(session, automatic.id)).customer_id == bo.id
    assert report.examined == 1


async def test_only_unmatched_leaves_automatic_matches_alone(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    await make_customer(session, "bo@tagrenderne.dk")
    ida = await make_customer(session, "ida@solsikkehaven.dk")
    stale = await make_thread(
        session,
        mailbox,
        ["bo@tagrenderne.dk"],
        customer_id=ida.id,
        is_matched=True,
        matched_by="domain",
        confidence=0.8,
    )
    await session.commit()

    report = await run(session, settings)

    assert (await state(session, stale.id)).customer_id == ida.id
    assert report.examined == 0


async def test_an_automatic_match_whose_evidence_is_gone_is_undone_by_a_full_rematch(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    customer = await make_customer(session, "bo@tagrenderne.dk")
    thread = await make_thread(session, mailbox, ["bo@tagrenderne.dk"])
    await session.commit()
    await run(session, settings)
    customer.email = "bo@nyt-firma.dk"
    await session.commit()

    await run(session, settings, only_unmatched=False)

    saved = await state(session, thread.id)
    assert (saved.customer_id, saved.is_matched, saved.matched_by) == (None, False, None)


async def test_thread_ids_limit_the_run_to_those_threads(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    await make_customer(session, "bo@tagrenderne.dk")
    chosen = await make_thread(session, mailbox, ["bo@tagrenderne.dk"])
    other = await make_thread(session, mailbox, ["bo@tagrenderne.dk"])
    await session.commit()

    report = await run(session, settings, thread_ids=[chosen.id, 999_999])

    assert (await state(session, chosen.id)).is_matched
    assert not (await state(session, other.id)).is_matched
    assert report.examined == 1


async def test_own_domain_participants_never_match_even_with_a_customer_on_it(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    await make_customer(session, "lars@rendetalje.dk")
    await make_customer(session, "mw@adhelp.dk")
    thread = await make_thread(
        session, mailbox, ["lars@rendetalje.dk", "mw@adhelp.dk", "noreply@rendetalje.dk"]
    )
    await session.commit()

    await run(session, settings)

    assert not (await state(session, thread.id)).is_matched


async def test_stats_count_matches_per_rule_and_the_match_rate(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await make_mailbox(session)
    await make_customer(session, "bo@tagrenderne.dk")
    await make_customer(session, "anna@byggefirma.dk")
    await make_customer(session, "ole@byggefirma.dk")
    await make_thread(session, mailbox, ["bo@tagrenderne.dk"])
    await make_thread(session, mailbox, ["kontor@byggefirma.dk"])
    await make_thread(session, mailbox, ["ukendt@gmail.com"])
    await make_thread(session, mailbox, ["bo@tagrenderne.dk"], matched_by="manual")
    await session.commit()
    await run(session, settings)

    stats = await matching_stats(session)

    assert stats.total_threads == 4
    assert stats.matched == 1
    assert stats.unmatched == 3
    assert stats.ambiguous == 1
    assert stats.matched_by_rule == {"exact_email": 1}
    assert stats.match_rate == 0.25


async def test_stats_on_an_empty_database_are_zero(session: AsyncSession) -> None:
    stats = await matching_stats(session)
    assert (stats.total_threads, stats.matched, stats.match_rate) == (0, 0, 0.0)


@contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", _count)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", _count)


async def arrange_threads(session: AsyncSession, count: int, tag: str) -> None:
    """`count` threads (lead, exact email, reply, phone, domain in turn) and one unmatched."""
    mailbox = await make_mailbox(session)
    for i in range(count):
        email = f"kunde{i}@firma-{tag}{i}.dk"
        phone = f"+452{tag}{i:06d}"
        customer = await make_customer(session, email, phone)
        kind = i % 5
        participants = {
            0: ["system@leadmail.no"],
            1: [email],
            2: ["svar@gmail.com"],
            3: ["ukendt@gmail.com"],
            4: [f"regnskab@firma-{tag}{i}.dk"],
        }[kind]
        thread = await make_thread(session, mailbox, participants)
        if kind == 0:
            await make_lead(session, thread, email=customer.email)
        await make_message(
            session,
            thread,
            rfc822_id=f"<msg-{tag}-{i}@x.example>",
            in_reply_to=f"<msg-{tag}-{i - 1}@x.example>" if kind == 2 else None,
            body=f"ring på {phone[3:5]} {phone[5:7]} {phone[7:9]} {phone[9:]}"
            if kind == 3
            else "hej",
        )
    await make_thread(session, mailbox, ["nobody@gmail.com"])
    await session.commit()


async def test_it_issues_a_bounded_number_of_queries_whatever_the_thread_count(
    session: AsyncSession, settings: Settings, engine: AsyncEngine
) -> None:
    await arrange_threads(session, 10, "1")
    with count_statements(engine) as few:
        small = await run(session, settings)
    await arrange_threads(session, 200, "2")
    with count_statements(engine) as many:
        large = await run(session, settings)

    assert small.matched == 10
    assert large.matched == 200
    assert large.matched_by_rule == {
        "lead": 40,
        "exact_email": 40,
        "reply_chain": 40,
        "phone": 40,
        "domain": 40,
    }
    assert len(many) == len(few), (few, many)


@pytest.mark.postgres_only
@pytest.mark.parametrize("decision", ["unlink", "link"])
async def test_a_manual_decision_committed_while_a_rematch_waits_for_it_is_kept(
    engine: AsyncEngine, settings: Settings, decision: str
) -> None:
    """A person links a thread the rules would match to another customer (or unlinks it) while
    a rematch starts: the rematch waits for the person's transaction and then leaves the
    decision be, instead of writing the match it read the thread unmatched for."""
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    async with sessionmaker() as setup:
        mailbox = await make_mailbox(setup)
        await make_customer(setup, email="bo@tagrenderne.dk")
        other = await make_customer(setup, email="ida@solsikkehaven.dk")
        thread = await make_thread(setup, mailbox, ["bo@tagrenderne.dk"])
        await make_message(setup, thread, from_address="bo@tagrenderne.dk")
        await setup.commit()

    async def rematch() -> None:
        async with sessionmaker() as session:
            await match_threads(session, settings=settings, now=NOW)
            await session.commit()

    async with sessionmaker() as person, sessionmaker() as watcher:
        if decision == "unlink":
            await mail_service.unlink(person, thread_id=thread.id)
        else:
            await mail_service.link(person, thread_id=thread.id, customer_id=other.id)
        running = asyncio.create_task(rematch())
        await wait_until_a_backend_waits_for_a_lock(watcher)
        await person.commit()
    await running
    async with sessionmaker() as session:
        after = await state(session, thread.id)
    expected = None if decision == "unlink" else other.id
    assert (after.customer_id, after.matched_by) == (expected, "manual")
