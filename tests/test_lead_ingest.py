"""Leads from stored lead emails: exactly one per email, customers found or created, duplicates."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.leads.ingest import ingest_leads
from leadflow.mail.mime import parse_message
from leadflow.maintenance.sample_mailbox import SampleMailbox, build_sample_mailbox
from leadflow.models import Customer, Lead, Mailbox, MailProvider
from leadflow.settings import Settings
from leadflow.sync.store import StoredMessage, store_messages


def make_raw_email(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    reply_to: str | None = None,
    date: datetime | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(date or datetime(2026, 10, 1, 8, 0, tzinfo=UTC))
    msg["Message-ID"] = make_msgid(domain="example.dk")
    if reply_to:
        msg["Reply-To"] = reply_to
    msg.set_content(body)
    return bytes(msg)


async def _mailbox(session: AsyncSession) -> Mailbox:
    mailbox = Mailbox(email="info@rendetalje.dk", provider=MailProvider.MBOX)
    session.add(mailbox)
    await session.flush()
    return mailbox


async def _store(
    session: AsyncSession, mailbox: Mailbox, raws: list[bytes], settings: Settings
) -> list[StoredMessage]:
    parsed = [
        parse_message(
            raw,
            gmail_message_id=f"m{index}",
            gmail_thread_id=f"t{index}",
            own_domains=settings.own_domains,
        )
        for index, raw in enumerate(raws)
    ]
    result = await store_messages(session, mailbox_id=mailbox.id, messages=parsed)
    return result.stored


async def _ingest_sample(
    session: AsyncSession, settings: Settings, box: SampleMailbox
) -> list[StoredMessage]:
    mailbox = await _mailbox(session)
    stored = await _store(session, mailbox, [m.raw for m in box.messages], settings)
    await ingest_leads(session, mailbox_id=mailbox.id, messages=stored, settings=settings)
    await session.commit()
    return stored


async def test_every_lead_email_of_the_sample_becomes_exactly_one_lead(
    session: AsyncSession, settings: Settings
) -> None:
    box = build_sample_mailbox(seed=7, customers=30)
    await _ingest_sample(session, settings, box)
    expected = [m.lead for m in box.messages if m.lead is not None]
    leads = (await session.execute(select(Lead).order_by(Lead.id))).scalars().all()
    assert len(leads) == len(expected)
    assert sorted((lead.email or "", lead.source) for lead in leads) == sorted(
        (str(e.get("email") or ""), str(e["source"])) for e in expected
    )


async def test_a_second_run_over_the_same_messages_creates_nothing(
    session: AsyncSession, settings: Settings
) -> None:
    box = build_sample_mailbox(seed=7, customers=20)
    stored = await _ingest_sample(session, settings, box)
    counts = (
        (await session.execute(select(func.count(Lead.id)))).scalar_one(),
        (await session.execute(select(func.count(Customer.id)))).scalar_one(),
    )
    mailbox_id = (await session.execute(select(Mailbox.id))).scalar_one()
    report = await ingest_leads(session, mailbox_id=mailbox_id, messages=stored, settings=settings)
    await session.commit()
    assert report.leads_created == 0
    assert counts == (
        (await session.execute(select(func.count(Lead.id)))).scalar_one(),
        (await session.execute(select(func.count(Customer.id)))).scalar_one(),
    )


async def test_customers_are_created_once_with_counters_that_match_their_leads(
    session: AsyncSession, settings: Settings
) -> None:
    box = build_sample_mailbox(seed=11, customers=30)
    await _ingest_sample(session, settings, box)
    customers = (await session.execute(select(Customer))).scalars().all()
    lead_emails = {m.lead["email"] for m in box.messages if m.lead and m.lead.get("email")}
    assert {c.email for c in customers} == lead_emails
    for customer in customers:
        leads = (
            (await session.execute(select(Lead).where(Lead.customer_id == customer.id)))
            .scalars()
            .all()
        )
        assert customer.total_leads == len(leads)
        assert customer.last_contact_at == max(lead.received_at for lead in leads)  # type: ignore[type-var]


async def test_a_second_open_lead_within_30_days_is_marked_as_a_duplicate(
    session: AsyncSession, settings: Settings
) -> None:
    box = build_sample_mailbox(seed=5, customers=40)
    await _ingest_sample(session, settings, box)
    duplicates = (
        (await session.execute(select(Lead).where(Lead.duplicate_of_id.is_not(None))))
        .scalars()
        .all()
    )
    expected = sum(1 for m in box.messages if m.lead and m.lead.get("duplicate"))
    assert expected > 0
    assert len(duplicates) == expected
    for duplicate in duplicates:
        original = await session.get(Lead, duplicate.duplicate_of_id)
        assert original is not None
        assert original.email == duplicate.email
        assert original.duplicate_of_id is None


async def test_a_lead_without_email_or_phone_is_kept_and_flagged_for_review(
    session: AsyncSession, settings: Settings
) -> None:
    mailbox = await _mailbox(session)
    raw = make_raw_email(
        sender="Rengøring.nu <noreply@leadmail.no>",
        to="info@rendetalje.dk",
        subject="Nyt lead fra Rengøring.nu",
        body="Du har modtaget et nyt lead\n\nBehov Hovedrengøring\nBoligtype Villa\nNavn Ukendt\n",
    )
    stored = await _store(session, mailbox, [raw], settings)
    report = await ingest_leads(session, mailbox_id=mailbox.id, messages=stored, settings=settings)
    await session.commit()
    lead = (await session.execute(select(Lead))).scalar_one()
    assert report.needs_review == 1
    assert lead.needs_review is True
    assert lead.customer_id is None
    assert lead.gmail_message_id == stored[0].gmail_message_id


async def test_lead_data_fills_only_empty_customer_fields(
    session: AsyncSession, settings: Settings
) -> None:
    session.add(
        Customer(email="mette.lund@example.dk", name="Mette Lund (VIP)", phone=None, tags=[])
    )
    await session.flush()
    mailbox = await _mailbox(session)
    raw = make_raw_email(
        sender="Rendetalje.dk <noreply@rendetalje.dk>",
        to="info@rendetalje.dk",
        reply_to="mette.lund@example.dk",
        subject="Ny henvendelse fra rendetalje.dk",
        body="Navn: Mette Lund\nEmail: mette.lund@example.dk\nTelefon: 22 33 44 55\n"
        "Besked: Hovedrengøring tak\n",
        date=datetime(2026, 10, 1, 9, 0, tzinfo=UTC),
    )
    stored = await _store(session, mailbox, [raw], settings)
    await ingest_leads(session, mailbox_id=mailbox.id, messages=stored, settings=settings)
    await session.commit()
    customer = (await session.execute(select(Customer))).scalar_one()
    assert customer.name == "Mette Lund (VIP)"
    assert customer.phone == "+4522334455"
    assert customer.total_leads == 1
