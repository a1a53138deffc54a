"""Row locks for read-modify-write: the one place every service takes them.

PostgreSQL runs READ COMMITTED. A service that reads a row with a plain SELECT and then writes
lets two requests read the same old state and both write: a `won` lead turned `spam`, a lead
moved twice with its old customer never recounted. So a service that decides from a row's
current state re-reads it here, locked; a second request waits for the first to commit and
then decides from the first one's result.

Lock order, so that two writers never wait on each other in a circle: leads, then bookings,
then threads, then customers (`refresh_counters` takes those last, in ascending id). Within one
table, ascending id. Deleting a customer follows the same order: its leads, bookings and threads
first, the customer row last. PostgreSQL breaks a cycle that still forms (a deadlock, 40P01)
by failing one transaction, which the API answers with a 409 to retry.

SQLite has no row locks (SQLAlchemy leaves FOR UPDATE out); every leadflow transaction there
starts with BEGIN IMMEDIATE, which makes writers take turns for the whole transaction.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models.base import Base

M = TypeVar("M", bound=Base)


def _key(model: type[Base]) -> Any:
    return inspect(model).primary_key[0]


async def _lock_one(
    session: AsyncSession, model: type[M], row_id: int, *, read: bool, key_share: bool
) -> M | None:
    stmt = (
        select(model)
        .where(_key(model) == row_id)
        .with_for_update(read=read, key_share=key_share)
        # A row read earlier in this session must show what we read under the lock.
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_for_update(session: AsyncSession, model: type[M], row_id: int) -> M | None:
    """Re-read a row to change it (FOR NO KEY UPDATE); None when it does not exist (any more).

    NO KEY UPDATE, not UPDATE: rows that reference this one may still be inserted meanwhile.
    """
    return await _lock_one(session, model, row_id, read=False, key_share=True)


async def lock_for_delete(session: AsyncSession, model: type[M], row_id: int) -> M | None:
    """Re-read a row to delete it (FOR UPDATE): nothing may reference it until we commit."""
    return await _lock_one(session, model, row_id, read=False, key_share=False)


async def lock_against_change(session: AsyncSession, model: type[M], row_id: int) -> M | None:
    """Read a row whose current values a write depends on (FOR SHARE): it stays as read."""
    return await _lock_one(session, model, row_id, read=True, key_share=False)


async def lock_against_delete(session: AsyncSession, model: type[M], row_id: int) -> bool:
    """True when the row exists; it cannot be deleted until we commit (FOR KEY SHARE).

    The weakest lock: other requests may still change the row, only not remove it. For a row a
    write is about to reference (a customer a lead or thread is linked to).
    """
    key = _key(model)
    stmt = select(key).where(key == row_id).with_for_update(read=True, key_share=True)
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def lock_rows(
    session: AsyncSession, model: type[Base], *where: ColumnElement[bool]
) -> list[int]:
    """Lock every row matching `where` to change it, in ascending id; return their ids."""
    key = _key(model)
    stmt = select(key).where(*where).order_by(key).with_for_update(key_share=True)
    return list((await session.execute(stmt)).scalars())
