"""Generated lead mails through the real pipeline (mbox import): stored leads read back exactly."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.leads.repair import snapshot
from leadflow.mail.mime import normalise_message_id
from leadflow.models import Lead
from leadflow.settings import Settings
from leadflow.sync.job import import_mbox
from tests.lead_mails import LEAD_FIELDS, read_back
from tests.lead_mails.mailbox import generated_mailbox


async def test_generated_lead_mails_are_stored_as_exactly_the_leads_they_carry(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    box, mails = generated_mailbox(seed=99, leads=40)
    path = tmp_path / "generated.mbox"
    path.write_bytes(box.mbox_bytes())
    result = await import_mbox(
        settings, sessionmaker, path=path, mailbox_email="info@rendetalje.dk"
    )
    assert result.ok
    async with sessionmaker() as session:
        leads = (await session.execute(select(Lead))).scalars().all()
    by_message = {lead.gmail_message_id: lead for lead in leads}
    assert len(leads) == len(mails)  # the customers' own mail made none
    for mail in mails:
        lead = by_message[f"mbox:{normalise_message_id(mail.message_id)}"]
        stored = {name: getattr(lead, name) for name in LEAD_FIELDS}
        assert stored == mail.expected, mail.layout
        parsed = read_back(mail)
        assert parsed is not None
        assert lead.parsed == snapshot(parsed)
        assert lead.edited_fields == []
