"""`leads rescan` repairs leads an earlier parse got wrong: same lead, a person's edits kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from leadflow.cli.main import app as cli
from leadflow.leads import service as lead_service
from leadflow.leads.parsers import ParsedLead
from leadflow.leads.repair import snapshot
from leadflow.leads.rescan import rescan_leads
from leadflow.leads.schemas import LeadUpdate
from leadflow.models import Customer, EmailThread, Lead, Mailbox
from leadflow.settings import Settings
from tests.factories_mail import make_mailbox, make_message, make_thread
from tests.lock_waits import wait_until_a_backend_waits_for_a_lock
from tests.test_lead_free_text import COMMENT, ISSUE_EXAMPLE

SENT = datetime(2025, 10, 9, 18, 35, tzinfo=UTC)
# What the parser before issue #9 read from ISSUE_EXAMPLE: the comment swallowed the contacts.
OLD_PARSE = ParsedLead(
    source="Rengøring.nu",
    square_meters=98.0,
    task_type="Fast rengøringshjælp",
    message=ISSUE_EXAMPLE.split("Kommentar: ", 1)[1].strip(),
    received_at=datetime(2025, 10, 9, 18, 31, tzinfo=UTC),
)


async def _old_lead(
    sessionmaker: async_sessionmaker[AsyncSession], *, with_snapshot: bool, n: int = 0
) -> tuple[int, int]:
    """The issue's mail stored with the lead the old parser made; returns (lead id, thread id).

    `n` > 0 gives another customer's copy of the mail (its own address) in the same mailbox.
    """
    async with sessionmaker() as session:
        mailbox = (
            await session.execute(select(Mailbox).where(Mailbox.email == "info@rendetalje.dk"))
        ).scalar_one_or_none() or await make_mailbox(session, email="info@rendetalje.dk")
        thread = await make_thread(session, mailbox_id=mailbox.id, gmail_thread_id=f"t-9-{n}")
        message = await make_message(
            session,
            thread=thread,
            sent_at=SENT,
            gmail_message_id=f"m-9-{n}",
            from_address="noreply@leadmail.no",
            from_name="Rengøring.nu",
            subject="Nyt lead fra Rengøring.nu",
            body_text=ISSUE_EXAMPLE.replace("vibeke.krag@", f"vibeke.krag{n or ''}@"),
        )
        columns = {
            name: getattr(OLD_PARSE, name)
            for name in ("source", "square_meters", "task_type", "message", "received_at")
        }
        lead = Lead(
            **columns,
            needs_review=True,
            mailbox_id=mailbox.id,
            gmail_message_id=message.gmail_message_id,
            gmail_thread_id=thread.gmail_thread_id,
            parsed=snapshot(OLD_PARSE) if with_snapshot else None,
        )
        session.add(lead)
        await session.commit()
        return lead.id, thread.id


async def _lead(sessionmaker: async_sessionmaker[AsyncSession], lead_id: int) -> Lead:
    async with sessionmaker() as session:
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        return lead


async def test_a_rescan_fills_the_contact_block_on_the_same_lead_and_matches_its_thread(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    lead_id, thread_id = await _old_lead(sessionmaker, with_snapshot=False)
    report = await rescan_leads(sessionmaker, settings)
    lead = await _lead(sessionmaker, lead_id)
    assert (lead.name, lead.email, lead.phone) == (
        "Vibeke Krag Clausen",
        "vibeke.krag@example.dk",
        "+4546395906",
    )
    assert (lead.address, lead.postal_code, lead.city) == (
        "Kildeløkken 83, 4. mf.",
        "8230",
        "Åbyhøj",
    )
    assert lead.preferred_date_text == "Fleksibel"
    assert lead.needs_review is False
    # Without a snapshot nothing tells the old message from a typed one: it stays.
    assert lead.message == OLD_PARSE.message
    assert lead.parsed is not None
    assert lead.parsed["message"] == COMMENT
    assert report.leads_created == 0
    assert report.leads_changed == 1
    assert report.changes[0].lead_id == lead_id
    assert report.customers_created == 1
    assert report.customers_linked == 1
    async with sessionmaker() as session:
        assert (await session.execute(select(func.count(Lead.id)))).scalar_one() == 1
        customer = (await session.execute(select(Customer))).scalar_one()
        thread = await session.get(EmailThread, thread_id)
    assert lead.customer_id == customer.id
    assert (customer.name, customer.phone, customer.total_leads) == (lead.name, lead.phone, 1)
    assert thread is not None
    assert thread.customer_id == customer.id
    assert report.threads_rematched >= 1


async def test_a_second_rescan_changes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    lead_id, _ = await _old_lead(sessionmaker, with_snapshot=True)
    await rescan_leads(sessionmaker, settings)
    before = await _lead(sessionmaker, lead_id)
    again = await rescan_leads(sessionmaker, settings)
    after = await _lead(sessionmaker, lead_id)
    assert (again.leads_changed, again.customers_linked, again.customers_created) == (0, 0, 0)
    assert (after.name, after.message, after.updated_at) == (
        before.name,
        before.message,
        before.updated_at,
    )


async def test_with_the_parsers_snapshot_a_wrong_parsed_value_is_corrected(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    lead_id, _ = await _old_lead(sessionmaker, with_snapshot=True)
    report = await rescan_leads(sessionmaker, settings)
    lead = await _lead(sessionmaker, lead_id)
    assert lead.message == COMMENT
    assert report.fields_corrected == {"message": 1}


async def test_a_value_a_person_set_through_the_api_is_never_overwritten(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, client: httpx.AsyncClient
) -> None:
    lead_id, _ = await _old_lead(sessionmaker, with_snapshot=True)
    typed = {"name": "Vibeke (ring efter 16)", "message": "Ringet op, vil have tilbud."}
    response = await client.patch(f"/api/leads/{lead_id}", json=typed)
    assert response.status_code == 200, response.text
    assert response.json()["edited_fields"] == ["message", "name"]
    report = await rescan_leads(sessionmaker, settings)
    lead = await _lead(sessionmaker, lead_id)
    assert (lead.name, lead.message) == (typed["name"], typed["message"])
    assert lead.phone == "+4546395906"
    assert report.edits_kept == {"name": 1, "message": 1}
    body = (await client.get(f"/api/leads/{lead_id}")).json()
    assert body["preferred_date_text"] == "Fleksibel"
    assert body["details"] == {}
    assert body["name"] == typed["name"]


@pytest.mark.postgres_only
async def test_an_edit_committing_while_the_rescan_waits_for_the_row_is_kept(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    lead_id, _ = await _old_lead(sessionmaker, with_snapshot=True)
    async with sessionmaker() as person, sessionmaker() as observer:
        await lead_service.update_lead(person, lead_id=lead_id, data=LeadUpdate(name="Vibeke K."))
        rescan = asyncio.create_task(rescan_leads(sessionmaker, settings))
        await wait_until_a_backend_waits_for_a_lock(observer)
        await person.commit()
    report = await rescan
    lead = await _lead(sessionmaker, lead_id)
    assert lead.name == "Vibeke K."
    assert lead.phone == "+4546395906"
    assert report.edits_kept == {"name": 1}


@pytest.fixture
async def old_lead_id(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    lead_id, _ = await _old_lead(sessionmaker, with_snapshot=True)
    return lead_id


def test_the_command_line_lists_what_changed(
    old_lead_id: int, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A plain (sync) test: the command runs its own event loop, as it does from a shell.
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, ["leads", "rescan"])
    assert result.exit_code == 0, result.output
    assert "re-parsed 1 leads: 1 changed" in result.output
    assert f"lead {old_lead_id}: filled " in result.output
    assert "phone" in result.output
    assert "corrected message" in result.output


def _failing_update_trigger(dialect: str, lead_id: int) -> tuple[list[str], list[str]]:
    """SQL that makes the database refuse to update one lead (a commit that fails), and undo."""
    if dialect == "postgresql":
        create = [
            "CREATE FUNCTION refuse_lead_update() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.id = {lead_id} THEN RAISE EXCEPTION 'injected failure'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_lead_update BEFORE UPDATE ON leads FOR EACH ROW "
            "EXECUTE FUNCTION refuse_lead_update()",
        ]
        drop = [
            "DROP TRIGGER IF EXISTS refuse_lead_update ON leads",
            "DROP FUNCTION IF EXISTS refuse_lead_update()",
        ]
        return create, drop
    create = [
        f"CREATE TRIGGER refuse_lead_update BEFORE UPDATE ON leads WHEN NEW.id = {lead_id} "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    ]
    return create, ["DROP TRIGGER IF EXISTS refuse_lead_update"]


async def test_a_batch_whose_commit_fails_leaves_earlier_batches_and_a_rerun_finishes(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("leadflow.leads.rescan.REPAIR_BATCH", 1)
    first, _ = await _old_lead(sessionmaker, with_snapshot=True, n=1)
    second, _ = await _old_lead(sessionmaker, with_snapshot=True, n=2)
    async with sessionmaker() as session:
        create, drop = _failing_update_trigger(session.get_bind().dialect.name, second)
        for statement in create:
            await session.execute(text(statement))
        await session.commit()
    try:
        with pytest.raises(DBAPIError, match="injected failure"):
            await rescan_leads(sessionmaker, settings)
        assert (await _lead(sessionmaker, first)).phone == "+4546395906"
        untouched = await _lead(sessionmaker, second)
        assert (untouched.phone, untouched.customer_id) == (None, None)
    finally:
        async with sessionmaker() as session:
            for statement in drop:
                await session.execute(text(statement))
            await session.commit()
    report = await rescan_leads(sessionmaker, settings)
    assert [change.lead_id for change in report.changes] == [second]
    assert (await _lead(sessionmaker, second)).phone == "+4546395906"
    async with sessionmaker() as session:
        assert (await session.execute(select(func.count(Lead.id)))).scalar_one() == 2
        assert (await session.execute(select(func.count(Customer.id)))).scalar_one() == 2


@pytest.fixture
async def refused_second_lead(
    sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[int, int]]:
    """Two old leads; the database refuses to update the second (removed afterwards)."""
    monkeypatch.setattr("leadflow.leads.rescan.REPAIR_BATCH", 1)
    first, _ = await _old_lead(sessionmaker, with_snapshot=True, n=1)
    second, _ = await _old_lead(sessionmaker, with_snapshot=True, n=2)
    async with sessionmaker() as session:
        create, drop = _failing_update_trigger(session.get_bind().dialect.name, second)
        for statement in create:
            await session.execute(text(statement))
        await session.commit()
    yield first, second
    async with sessionmaker() as session:
        for statement in drop:
            await session.execute(text(statement))
        await session.commit()


def test_a_rescan_that_stops_says_so_without_a_traceback(
    refused_second_lead: tuple[int, int], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, ["leads", "rescan"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped error
    assert "rescan stopped" in result.output
    assert "injected failure" in result.output
    assert "run `leadflow leads rescan` again" in result.output
    assert "Traceback" not in result.output
