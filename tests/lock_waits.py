"""Waiting, in a PostgreSQL test, until another transaction is blocked on a lock."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def wait_until_a_backend_waits_for_a_lock(session: AsyncSession) -> None:
    """Return once another backend waits for a lock (a row lock or an advisory lock).

    PostgreSQL offers no notification for this, so the test asks pg_stat_activity until it is
    true: the wait is for an observable state, bounded by the timeout, not a guess at timing.
    Each question is its own transaction: a backend keeps one snapshot of pg_stat_activity
    for the rest of a transaction.
    """
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database()"
    )
    async with asyncio.timeout(10):
        while True:
            waiting = (await session.execute(query)).scalar_one()
            await session.rollback()
            if waiting:
                return
            await asyncio.sleep(0.01)
