"""A thread that loses messages is matched again by what it still holds.

Deleting a message, or moving it to the bin or spam, shrinks its thread. The rules are run again
on such a thread in the same transaction (`MatchingProcessor.threads_shrunk`): a match that
rested on the message that went does not outlive it, and a conflict it caused is resolved.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import Customer, EmailThread, IngestStatus, Mailbox
from leadflow.sync.pipeline import MessageProcessor, default_processors
from leadflow.sync.store import StoredMessage
from tests.fakes.gmail import FakeMessage
from tests.fakes.gmail_wire import make_raw_email
from tests.sync_helpers import Harness, at

IDA = "ida@solsikkehaven.dk"
BO = "bo.nielsen@example.net"
STRANGER = "ukendt@example.org"


async def _sync(
    harness: Harness, *, full: bool = False, processors: Sequence[MessageProcessor] | None = None
) -> None:
    result = await harness.sync(
        full=full,
        processors=list(processors)
        if processors is not None
        else default_processors(harness.settings),
    )
    assert result.status is IngestStatus.COMPLETED


async def _customers(harness: Harness) -> dict[str, int]:
    async with harness.sessionmaker() as session:
        people = [Customer(name="Ida Holm", email=IDA), Customer(name="Bo Nielsen", email=BO)]
        session.add_all(people)
        await session.commit()
        return {person.email or "": person.id for person in people}


async def _thread(harness: Harness, gmail_thread_id: str) -> EmailThread:
    async with harness.sessionmaker() as session:
        thread = await session.scalar(
            select(EmailThread).where(EmailThread.gmail_thread_id == gmail_thread_id)
        )
        assert thread is not None
        return thread


def _write(
    harness: Harness, sender: str, day: int, thread: FakeMessage | None = None
) -> FakeMessage:
    return harness.fake.deliver(
        make_raw_email(sender=sender, subject="Vinduespudsning", date=at(day)),
        thread_id=thread.thread_id if thread is not None else None,
    )


@pytest.mark.parametrize("how", ["delete", "trash", "report_spam"])
@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
async def test_a_match_resting_on_a_removed_message_goes_with_it(
    harness: Harness, how: str, full: bool
) -> None:
    ids = await _customers(harness)
    first = _write(harness, IDA, 2)
    _write(harness, STRANGER, 3, thread=first)
    await _sync(harness)
    thread = await _thread(harness, first.thread_id)
    assert (thread.customer_id, thread.matched_by) == (ids[IDA], "exact_email")

    getattr(harness.fake, how)(first.id)
    await _sync(harness, full=full)

    thread = await _thread(harness, first.thread_id)
    assert thread.message_count == 1
    assert (thread.customer_id, thread.is_matched, thread.matched_by) == (None, False, None)
    async with harness.sessionmaker() as session:
        ida = await session.get(Customer, ids[IDA])
        assert ida is not None
        assert ida.last_contact_at is None  # the thread no longer counts for her


async def test_a_conflict_resolves_when_one_side_leaves(harness: Harness) -> None:
    ids = await _customers(harness)
    first = _write(harness, IDA, 2)
    second = _write(harness, BO, 3, thread=first)
    await _sync(harness)
    thread = await _thread(harness, first.thread_id)
    assert (thread.customer_id, thread.is_matched) == (None, False)
    assert thread.match_note is not None  # two candidates

    harness.fake.trash(second.id)
    await _sync(harness)

    thread = await _thread(harness, first.thread_id)
    assert (thread.customer_id, thread.matched_by, thread.match_note) == (
        ids[IDA],
        "exact_email",
        None,
    )


async def test_a_thread_linked_by_hand_keeps_its_link_when_it_shrinks(harness: Harness) -> None:
    from leadflow.mail import service as mail_service

    ids = await _customers(harness)
    first = _write(harness, IDA, 2)
    _write(harness, STRANGER, 3, thread=first)
    await _sync(harness)
    async with harness.sessionmaker() as session:
        thread = await _thread(harness, first.thread_id)
        await mail_service.link(session, thread_id=thread.id, customer_id=ids[BO])
        await session.commit()

    harness.fake.delete(first.id)
    await _sync(harness)

    thread = await _thread(harness, first.thread_id)
    assert (thread.customer_id, thread.matched_by) == (ids[BO], "manual")


class _Failing:
    """A processor whose shrunk-thread step breaks (a bug, odd data)."""

    async def process(
        self, session: AsyncSession, mailbox: Mailbox, stored: Sequence[StoredMessage]
    ) -> None:
        return None

    async def threads_shrunk(
        self, session: AsyncSession, mailbox: Mailbox, thread_ids: Sequence[int]
    ) -> None:
        await session.execute(select(EmailThread.id).where(EmailThread.id.in_(thread_ids)))
        raise RuntimeError("broken on purpose")


async def test_a_failing_step_on_shrunk_threads_is_logged_and_the_removal_stands(
    harness: Harness,
) -> None:
    ids = await _customers(harness)
    first = _write(harness, IDA, 2)
    _write(harness, STRANGER, 3, thread=first)
    await _sync(harness)
    harness.fake.trash(first.id)

    processors = [_Failing(), *default_processors(harness.settings)]
    result = await harness.sync(processors=processors)

    assert (result.status, result.errors) == (IngestStatus.PARTIAL, 1)  # said, and went on
    run = await harness.run(result.run_id)
    assert any("processor _Failing failed: broken on purpose" in e["reason"] for e in run.error_log)
    thread = await _thread(harness, first.thread_id)
    assert thread.message_count == 1  # the removal was kept
    assert thread.customer_id != ids[IDA]  # and the matching after it still ran
