"""End to end through the fake Gmail: leads, customers and thread matches from a real sync.

The mailbox is the synthetic sample (lead emails from every platform, conversations, noise) with
its ground truth; a second sync must change nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.evaluate_leads import load_outcome, score_against_truth
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.maintenance.sample_mailbox import SampleMailbox, build_sample_mailbox
from leadflow.models import Customer, EmailThread, IngestMode, IngestStatus, Lead
from leadflow.settings import Settings
from leadflow.sync.pipeline import default_processors
from tests.fakes.gmail import FakeMailbox
from tests.sync_helpers import Harness, fake_client_factory, sync_settings


def _load(fake: FakeMailbox, box: SampleMailbox) -> None:
    thread_ids: dict[str, str] = {}
    for sample in box.messages:
        ours = b"X-Gmail-Labels: Sent" in sample.raw
        message = fake.add_message(
            sample.raw,
            labels=["SENT"] if ours else ["INBOX", "CATEGORY_UPDATES"],
            thread_id=thread_ids.get(sample.thread_key),
        )
        thread_ids.setdefault(sample.thread_key, message.thread_id)


@pytest.fixture
def sample() -> SampleMailbox:
    return build_sample_mailbox(seed=31, customers=45)


@pytest.fixture
def harness(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
    sample: SampleMailbox,
) -> Harness:
    fake = FakeMailbox()
    _load(fake, sample)
    return Harness(
        fake, sync_settings(settings, sync_batch_size=25), sessionmaker,
        fake_client_factory(fake, tmp_path),
    )  # fmt: skip


async def _counts(session: AsyncSession) -> tuple[int, int, int, int]:
    async def count(stmt: object) -> int:
        return int((await session.execute(stmt)).scalar_one())  # type: ignore[call-overload]

    return (
        await count(select(func.count(Lead.id))),
        await count(select(func.count(Customer.id))),
        await count(select(func.count(EmailThread.id)).where(EmailThread.is_matched.is_(True))),
        await count(select(func.count(Lead.id)).where(Lead.duplicate_of_id.is_not(None))),
    )


async def test_a_gmail_sync_turns_the_sample_mailbox_into_the_right_leads_and_matches(
    harness: Harness, sample: SampleMailbox, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    processors = default_processors(harness.settings)
    result = await harness.sync(processors=processors)
    assert (result.mode, result.status) == (IngestMode.FULL, IngestStatus.COMPLETED)

    async with sessionmaker() as session:
        rows, leads = await load_outcome(session)
        customers = set((await session.execute(select(Customer.email))).scalars())
    score = score_against_truth(sample, rows, leads)
    assert score.lead_emails == sum(1 for m in sample.messages if m.lead)
    assert score.leads_exactly_once == score.lead_emails
    assert score.leads_from_non_lead_mail == 0
    assert score.duplicates_flagged == score.duplicates_expected > 0
    assert score.field_errors == []
    assert score.matched_wrong == score.matched_unmatchable == 0
    assert score.matched_right == score.matchable_threads
    assert customers == {m.lead["email"] for m in sample.messages if m.lead and m.lead["email"]}
    assert not any("adhelp.dk" in (email or "") for email in customers)


async def test_a_second_sync_changes_nothing(
    harness: Harness, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await harness.sync(processors=default_processors(harness.settings))
    async with sessionmaker() as session:
        before = await _counts(session)
    again = await harness.sync(processors=default_processors(harness.settings))
    assert (again.mode, again.new, again.updated) == (IngestMode.INCREMENTAL, 0, 0)
    full = await harness.sync(full=True, processors=default_processors(harness.settings))
    assert (full.new, full.errors) == (0, 0)
    async with sessionmaker() as session:
        assert await _counts(session) == before
