"""kill -9 a real `leadflow sync` process mid-sync; the re-run ends with exactly the mailbox."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leadflow.models import (
    EmailIngestRun,
    EmailMessage,
    EmailThread,
    IngestMode,
    IngestStatus,
    Mailbox,
)
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_server import serve_in_thread, write_credentials
from tests.sync_helpers import GMAIL_USER

pytestmark = pytest.mark.slow

MESSAGES = 2000
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def gmail_server() -> Iterator[tuple[FakeMailbox, str]]:
    fake = FakeMailbox(email=GMAIL_USER)
    fake.add_synthetic_messages(MESSAGES, replies_every=3)
    with serve_in_thread(fake) as base_url:
        yield fake, base_url


def sync_env(database_url: str, base_url: str, credentials: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLOW_")}
    env.update(
        {
            "LEADFLOW_DATABASE_URL": database_url,
            "LEADFLOW_GMAIL_API_URL": base_url,
            "LEADFLOW_GMAIL_CREDENTIALS": str(credentials),
            "LEADFLOW_GMAIL_USER": GMAIL_USER,
            "LEADFLOW_SYNC_BATCH_SIZE": "50",
            # The latency knob: our own quota pacing makes the sync take a few seconds.
            "LEADFLOW_GMAIL_QUOTA_UNITS_PER_SECOND": "2500",
            "LEADFLOW_LOG_FORMAT": "json",
        }
    )
    return env


def start_sync(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "leadflow.cli.sync", "sync"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def stored_count(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(EmailMessage)) or 0)


async def kill_when_stored(
    process: subprocess.Popen[bytes],
    sessionmaker: async_sessionmaker[AsyncSession],
    at_least: int,
    log: Path,
) -> int:
    """Wait (bounded) until `at_least` messages are stored, then kill -9 the process."""
    for _ in range(1200):
        count = await stored_count(sessionmaker)
        if count >= at_least:
            process.kill()
            process.wait(timeout=10)
            return count
        if process.poll() is not None:
            output = await asyncio.to_thread(log.read_text)
            raise AssertionError(f"sync exited early ({process.returncode}): {output}")
        await asyncio.sleep(0.05)
    process.kill()
    process.wait(timeout=10)
    output = await asyncio.to_thread(log.read_text)
    raise AssertionError(f"sync stored fewer than {at_least} messages in time: {output}")


async def test_a_sync_killed_twice_then_rerun_stores_exactly_the_mailbox(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    gmail_server: tuple[FakeMailbox, str],
    tmp_path: Path,
) -> None:
    fake, base_url = gmail_server
    credentials = tmp_path / "credentials.json"
    write_credentials(fake, base_url, credentials)
    env = sync_env(database_url, base_url, credentials)
    log = tmp_path / "sync.log"

    first = await kill_when_stored(start_sync(env, log), sessionmaker, MESSAGES // 6, log)
    assert first < MESSAGES
    # The mailbox moves on while nothing syncs it: one stored message goes, some arrive.
    async with sessionmaker() as session:
        stored_one = await session.scalar(select(EmailMessage.gmail_message_id).limit(1))
    assert stored_one is not None
    fake.delete_message(stored_one)
    fake.add_synthetic_messages(25)

    second = await kill_when_stored(start_sync(env, log), sessionmaker, MESSAGES // 2, log)
    assert first < second < MESSAGES + 25

    final = start_sync(env, log)
    assert await asyncio.to_thread(final.wait, 180) == 0, log.read_text()

    expected = {mid for mid, m in fake.messages.items() if not {"SPAM", "TRASH"} & set(m.label_ids)}
    async with sessionmaker() as session:
        ids = list(await session.scalars(select(EmailMessage.gmail_message_id)))
        per_thread = await session.scalar(select(func.sum(EmailThread.message_count)))
        empty_threads = await session.scalar(
            select(func.count()).select_from(EmailThread).where(EmailThread.message_count == 0)
        )
        box = await session.scalar(select(Mailbox))
        runs = list(await session.scalars(select(EmailIngestRun).order_by(EmailIngestRun.id)))
    assert len(ids) == len(set(ids)), "a message was stored twice"
    assert set(ids) == expected
    assert per_thread == len(ids)
    assert empty_threads == 0
    assert box is not None
    assert box.sync_cursor is not None
    assert box.lease_owner is None
    assert [r.status for r in runs] == [
        IngestStatus.FAILED,
        IngestStatus.FAILED,
        IngestStatus.COMPLETED,
    ]
    assert "interrupted" in runs[0].error_log[-1]["reason"]
    # Each run row counts what it committed, so together they count every message stored once
    # (the deleted one included, removed by the last run's reconciliation).
    assert sum(r.new_emails for r in runs) == len(expected) + 1


async def test_an_incremental_sync_killed_then_rerun_stores_exactly_the_mailbox(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    tmp_path: Path,
) -> None:
    fake = FakeMailbox(email=GMAIL_USER)
    fake.add_synthetic_messages(50)
    with serve_in_thread(fake) as base_url:
        credentials = tmp_path / "credentials.json"
        write_credentials(fake, base_url, credentials)
        env = sync_env(database_url, base_url, credentials)
        log = tmp_path / "sync.log"
        full = start_sync(env, log)
        assert await asyncio.to_thread(full.wait, 120) == 0, log.read_text()
        async with sessionmaker() as session:
            cursor = await session.scalar(select(Mailbox.sync_cursor))
        assert cursor is not None

        # The mailbox moves on: many arrivals (the incremental run's work), a few removals and
        # relabels of mail already stored.
        fake.add_synthetic_messages(MESSAGES, replies_every=4)
        stored_before = sorted(fake.messages)[:5]
        fake.delete_message(stored_before[0])
        fake.relabel(stored_before[1], add=["STARRED"], remove=["UNREAD"])

        killed_at = await kill_when_stored(start_sync(env, log), sessionmaker, 50 + 300, log)
        assert killed_at < 50 + MESSAGES
        async with sessionmaker() as session:
            assert await session.scalar(select(Mailbox.sync_cursor)) == cursor  # not moved

        final = start_sync(env, log)
        assert await asyncio.to_thread(final.wait, 180) == 0, log.read_text()

    expected = {mid for mid, m in fake.messages.items() if not {"SPAM", "TRASH"} & set(m.label_ids)}
    async with sessionmaker() as session:
        ids = list(await session.scalars(select(EmailMessage.gmail_message_id)))
        labels = await session.scalar(
            select(EmailMessage.labels).where(EmailMessage.gmail_message_id == stored_before[1])
        )
        box = await session.scalar(select(Mailbox))
        runs = list(await session.scalars(select(EmailIngestRun).order_by(EmailIngestRun.id)))
    assert len(ids) == len(set(ids)), "a message was stored twice"
    assert set(ids) == expected
    assert labels is not None
    assert "STARRED" in labels
    assert "UNREAD" not in labels
    assert box is not None
    assert box.sync_cursor == str(fake.history_id)
    assert [(r.mode, r.status) for r in runs] == [
        (IngestMode.FULL, IngestStatus.COMPLETED),
        (IngestMode.INCREMENTAL, IngestStatus.FAILED),
        (IngestMode.INCREMENTAL, IngestStatus.COMPLETED),
    ]
