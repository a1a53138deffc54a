"""A long sync ANALYZEs the tables it grows (PostgreSQL): after n, 2n, 4n … committed batches."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leadflow.settings import Settings
from leadflow.sync.job import import_mbox
from tests.fakes.gmail_wire import make_raw_email
from tests.sync_helpers import at, write_mbox

pytestmark = pytest.mark.postgres_only


async def _analyses(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        row = await conn.execute(
            text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'email_messages'")
        )
        return int(row.scalar_one())


def _mbox(tmp_path: Path, messages: int) -> Path:
    raws = [
        make_raw_email(subject=f"Besked {i}", message_id=f"<m{i}@example.net>", date=at(i + 1))
        for i in range(messages)
    ]
    return write_mbox(tmp_path / "mail.mbox", raws)


@pytest.mark.parametrize(("every", "messages", "expected"), [(1, 9, 4), (2, 9, 3), (0, 9, 0)])
async def test_a_sync_analyzes_after_n_then_twice_as_many_batches(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
    every: int,
    messages: int,
    expected: int,
) -> None:
    # One message per batch: 9 batches, plus the closing commit with nothing left = 10 commits.
    # Every 1: after commits 1, 2, 4, 8; every 2: after 2, 4, 8; 0: never.
    configured = settings.model_copy(
        update={"sync_batch_size": 1, "sync_analyze_after_batches": every}
    )
    before = await _analyses(engine)
    result = await import_mbox(
        configured, sessionmaker, path=_mbox(tmp_path, messages), mailbox_email="a@rendetalje.dk"
    )
    assert result.ok
    assert await _analyses(engine) - before == expected
