"""A sync paused past its lease (SIGSTOP) and resumed (SIGCONT) must not undo the newer sync.

Sync A (a real `leadflow sync` process) is stopped half-way through a full sync. Its lease runs
out, sync B takes the mailbox over, stores mail that arrived meanwhile and frees the lease.
Then A resumes: it must find its lease gone for good, write nothing more, and leave B's
messages, B's cursor and its own run row (closed by B as interrupted) as they are.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.db import sqlite_file
from leadflow.models import EmailIngestRun, EmailMessage, EmailThread, IngestStatus, Mailbox
from leadflow.settings import Settings
from leadflow.sync.job import sync_mailbox
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_server import serve_in_thread, write_credentials
from tests.sync_helpers import GMAIL_USER
from tests.test_sync_sigkill import start_sync, stored_count, sync_env

pytestmark = pytest.mark.slow

MESSAGES = 150  # one listing page: A has listed everything before it is stopped
LEASE_SECONDS = "2"


@pytest.fixture
def gmail_server() -> Iterator[tuple[FakeMailbox, str]]:
    fake = FakeMailbox(email=GMAIL_USER)
    fake.add_synthetic_messages(MESSAGES, replies_every=3)
    with serve_in_thread(fake) as base_url:
        yield fake, base_url


async def in_transaction(sessionmaker: async_sessionmaker[AsyncSession], url: str) -> bool:
    """True when the stopped sync holds a database transaction open (it would block B)."""
    path = sqlite_file(url)
    if path is None:
        async with sessionmaker() as session:
            open_ = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                    "'leadflow-sync' AND xact_start IS NOT NULL"
                )
            )
        return bool(open_)

    def write_locked() -> bool:
        probe = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()

    return await asyncio.to_thread(write_locked)


async def stop_between_transactions(
    process: subprocess.Popen[bytes], sessionmaker: async_sessionmaker[AsyncSession], url: str
) -> None:
    """SIGSTOP the process at a moment it holds no transaction (bounded retries)."""
    for _ in range(100):
        os.kill(process.pid, signal.SIGSTOP)
        if not await in_transaction(sessionmaker, url):
            return
        os.kill(process.pid, signal.SIGCONT)
        await asyncio.sleep(0.01)  # let it finish that transaction before stopping it again
    raise AssertionError("the sync was always inside a transaction")


async def wait_until_stored(
    process: subprocess.Popen[bytes],
    sessionmaker: async_sessionmaker[AsyncSession],
    at_least: int,
    log: Path,
) -> None:
    for _ in range(1200):
        if await stored_count(sessionmaker) >= at_least:
            return
        if process.poll() is not None:
            output = await asyncio.to_thread(log.read_text)
            raise AssertionError(f"sync exited early: {output}")
        await asyncio.sleep(0.05)
    output = await asyncio.to_thread(log.read_text)
    raise AssertionError(f"sync stored fewer than {at_least} messages in time: {output}")


async def test_a_paused_sync_resumed_after_a_take_over_changes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    database_url: str,
    gmail_server: tuple[FakeMailbox, str],
    tmp_path: Path,
) -> None:
    fake, base_url = gmail_server
    credentials = tmp_path / "credentials.json"
    write_credentials(fake, base_url, credentials)
    env = sync_env(database_url, base_url, credentials)
    env["LEADFLOW_SYNC_LEASE_SECONDS"] = LEASE_SECONDS
    env["LEADFLOW_GMAIL_QUOTA_UNITS_PER_SECOND"] = "500"  # a few seconds for the whole sync
    log = tmp_path / "sync-a.log"

    paused = start_sync(env, log)
    try:
        await wait_until_stored(paused, sessionmaker, 50, log)
        await stop_between_transactions(paused, sessionmaker, database_url)
        async with sessionmaker() as session:
            run_a = await session.scalar(select(EmailIngestRun.id))
        # Mail arrives after A listed the mailbox; B (the next sync) must keep it.
        late = fake.add_message()

        newer = await sync_mailbox(
            sessionmaker,
            settings.model_copy(
                update={
                    "gmail_api_url": base_url,
                    "gmail_credentials": credentials,
                    "gmail_user": GMAIL_USER,
                    "sync_batch_size": 50,
                    "sync_lease_seconds": float(LEASE_SECONDS),
                    "gmail_quota_units_per_second": 100_000.0,
                }
            ),
            wait=True,  # A is alive (stopped): B waits for A's lease to expire
            poll_seconds=0.2,
        )
        assert newer.status is IngestStatus.COMPLETED, newer.error
        async with sessionmaker() as session:
            cursor = await session.scalar(select(Mailbox.sync_cursor))
        assert cursor == str(fake.history_id)
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    assert await asyncio.to_thread(paused.wait, 120) == 1, log.read_text()

    expected = {mid for mid, m in fake.messages.items() if not {"SPAM", "TRASH"} & set(m.label_ids)}
    async with sessionmaker() as session:
        ids = list(await session.scalars(select(EmailMessage.gmail_message_id)))
        late_thread = await session.scalar(
            select(EmailThread.message_count).where(EmailThread.gmail_thread_id == late.thread_id)
        )
        per_thread = await session.scalar(select(func.sum(EmailThread.message_count)))
        box = await session.scalar(select(Mailbox))
        runs = list(await session.scalars(select(EmailIngestRun).order_by(EmailIngestRun.id)))
    assert sorted(ids) == sorted(expected)  # B's late message is still there, nothing twice
    assert late_thread == 1
    assert per_thread == len(ids)
    assert box is not None
    assert box.sync_cursor == cursor  # not moved back to where A started
    assert box.lease_owner is None
    assert box.last_error is None  # A's failure is A's run's, not the mailbox's
    assert [(r.id, r.status) for r in runs] == [
        (run_a, IngestStatus.FAILED),
        (newer.run_id, IngestStatus.COMPLETED),
    ]
    assert "interrupted" in runs[0].error_log[-1]["reason"]  # as B closed it, not rewritten
    assert "lease" in log.read_text()
