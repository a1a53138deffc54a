"""Fencing: a sync that lost its lease writes nothing, whatever it had in flight.

In-process and step by step (the SIGSTOP test does the same with a real process): sync A lists
the mailbox and is held before its first download, as if paused; its lease runs out, sync B
takes over, stores a message that arrived meanwhile and frees the lease; then A goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.db import transaction
from leadflow.models import EmailIngestRun, IngestStatus, Mailbox, utcnow
from leadflow.settings import Settings
from leadflow.sync.gmail import GmailClient
from leadflow.sync.gmail.batch_gets import MessageResult
from leadflow.sync.job import GmailClientFactory, start_sync
from tests.fakes.gmail import FakeMailbox
from tests.sync_helpers import Harness, fake_client_factory, sync_settings


class Gate:
    """Holds the first raw download until opened (the pause), and says when it got there."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()

    def wrap(self, factory: GmailClientFactory) -> GmailClientFactory:
        gate = self

        @asynccontextmanager
        async def gated(settings: Settings) -> AsyncIterator[GmailClient]:
            async with factory(settings) as client:
                original = client.get_messages

                async def get_messages(ids: Sequence[str], *, format: str = "raw") -> Any:
                    if format == "raw" and not gate.opened.is_set():
                        gate.reached.set()
                        await gate.opened.wait()
                    result: list[MessageResult] = await original(ids, format=format)
                    return result

                client.get_messages = get_messages  # type: ignore[method-assign]
                yield client

        return gated


async def test_a_sync_resumed_after_a_take_over_writes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    fake = FakeMailbox()
    fake.add_synthetic_messages(10)
    harness = Harness(
        fake, sync_settings(settings), sessionmaker, fake_client_factory(fake, tmp_path)
    )
    gate = Gate()
    paused = await start_sync(
        sessionmaker, harness.settings, client_factory=gate.wrap(harness.factory), processors=()
    )
    running = asyncio.create_task(paused.execute())
    await gate.reached.wait()  # A has read the profile and listed the mailbox
    await paused.lease.stop_renewing()  # paused: nothing renews A's lease any more
    async with transaction(sessionmaker) as session:
        await session.execute(update(Mailbox).values(lease_expires_at=utcnow() - paused.lease.ttl))
    late = fake.add_message()
    newer = await harness.sync()
    assert newer.status is IngestStatus.COMPLETED
    after_b = await harness.state()
    cursor = (await harness.mailbox()).sync_cursor

    # A resumes: its renewal comes first, then its downloads and commits.
    assert not await paused.lease.renew()
    gate.opened.set()
    result = await running

    assert result.status is IngestStatus.FAILED
    assert "taken over" in (result.error or "")
    assert await harness.state() == after_b
    assert late.id in after_b.messages
    box = await harness.mailbox()
    assert (box.sync_cursor, box.lease_owner, box.last_error) == (cursor, None, None)
    async with sessionmaker() as session:
        runs = list(await session.scalars(select(EmailIngestRun).order_by(EmailIngestRun.id)))
    assert [(r.id, r.status) for r in runs] == [
        (paused.run_id, IngestStatus.FAILED),
        (newer.run_id, IngestStatus.COMPLETED),
    ]
    assert runs[0].new_emails == 0
    assert "interrupted" in runs[0].error_log[-1]["reason"]
