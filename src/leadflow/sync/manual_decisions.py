"""Manual match decisions outlive a thread's absence from the mailbox.

A thread row goes when its last message leaves the mailbox (deleted, moved to the bin or to
spam: `sync.thread_aggregates`). When the owner had linked or unlinked that thread by hand, the
decision is kept in `manual_thread_decisions` under the thread's Gmail id; when mail of that
thread is stored again (taken back out of the bin, marked not spam), the new thread row gets the
decision back before the matching rules see it, so the rules leave it alone as before. Without
this, a thread put in the bin by mistake and restored came back matched by the rules, or
unmatched, and the owner's link was gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.db import conflict_insert
from leadflow.matching.rules import MANUAL
from leadflow.models import EmailThread, ManualThreadDecision, utcnow

_DECISIONS: Table = ManualThreadDecision.__table__  # type: ignore[assignment]
_THREADS: Table = EmailThread.__table__  # type: ignore[assignment]


async def keep_decisions(session: AsyncSession, thread_ids: Sequence[int]) -> int:
    """Keep the manual decisions of `thread_ids` (threads about to be deleted); return how many."""
    if not thread_ids:
        return 0
    rows = (
        await session.execute(
            select(
                EmailThread.mailbox_id,
                EmailThread.gmail_thread_id,
                EmailThread.customer_id,
                EmailThread.matched_at,
            ).where(EmailThread.id.in_(thread_ids), EmailThread.matched_by == MANUAL)
        )
    ).all()
    if not rows:
        return 0
    now = utcnow()
    values = [
        {
            "mailbox_id": mailbox_id,
            "gmail_thread_id": gmail_thread_id,
            "customer_id": customer_id,
            "decided_at": decided_at,
            "removed_at": now,
        }
        for mailbox_id, gmail_thread_id, customer_id, decided_at in rows
    ]
    stmt = conflict_insert(session, _DECISIONS)
    # A row left from an earlier absence is stale: the thread was decided again since.
    stmt = stmt.on_conflict_do_update(
        index_elements=["mailbox_id", "gmail_thread_id"],
        set_={
            "customer_id": stmt.excluded.customer_id,
            "decided_at": stmt.excluded.decided_at,
            "removed_at": stmt.excluded.removed_at,
        },
    )
    await session.execute(stmt, values)
    return len(values)


async def restore_decisions(
    session: AsyncSession, *, mailbox_id: int, thread_ids: Mapping[str, int]
) -> list[int]:
    """Give threads whose mail came back their kept decisions; return the customers linked.

    `thread_ids` maps Gmail thread ids to thread rows (new or not); a kept decision exists only
    for a thread whose row was deleted, so a row it names was created since.
    """
    if not thread_ids:
        return []
    kept = (
        await session.execute(
            select(
                ManualThreadDecision.id,
                ManualThreadDecision.gmail_thread_id,
                ManualThreadDecision.customer_id,
                ManualThreadDecision.decided_at,
            ).where(
                ManualThreadDecision.mailbox_id == mailbox_id,
                ManualThreadDecision.gmail_thread_id.in_(list(thread_ids)),
            )
        )
    ).all()
    if not kept:
        return []
    now = utcnow()
    changes = [
        {
            "row_id": thread_ids[gmail_thread_id],
            "customer": customer_id,
            "matched": customer_id is not None,
            "confidence": 1.0 if customer_id is not None else None,
            "decided": decided_at or now,
        }
        for _, gmail_thread_id, customer_id, decided_at in kept
    ]
    await session.execute(
        update(_THREADS)
        .where(_THREADS.c.id == bindparam("row_id"))
        .values(
            customer_id=bindparam("customer"),
            is_matched=bindparam("matched"),
            matched_by=MANUAL,
            confidence=bindparam("confidence"),
            matched_at=bindparam("decided"),
            match_note=None,
            updated_at=now,
        ),
        changes,
    )
    await session.execute(
        delete(ManualThreadDecision).where(ManualThreadDecision.id.in_([row[0] for row in kept]))
    )
    return [row[2] for row in kept if row[2] is not None]
