"""Thread aggregates, recomputed from a thread's stored messages (see `sync.store`).

A thread's count and last date feed its customer's counters (`last_contact_at`), so the
customers of every thread that changed or went are recounted in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.customers.counters import refresh_counters
from leadflow.models import EmailMessage, EmailThread, utcnow
from leadflow.sync.manual_decisions import keep_decisions

THREADS: Table = EmailThread.__table__  # type: ignore[assignment]
# Keeps every statement far below SQLite's and asyncpg's bound-parameter limits (~32k).
CHUNK = 500
_REPLY_PREFIX = re.compile(r"^\s*(?:re|fw|fwd|sv|vs|aw|wg|tr|antw)\s*(?:\[\d+\])?\s*:\s*", re.I)

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    """Slices of `items` of at most `size` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def normalise_subject(subject: str | None) -> str | None:
    """A thread's subject: reply/forward prefixes (Re:, Fwd:, SV:, VS: …) dropped, spaces folded."""
    if not subject:
        return None
    text = " ".join(subject.split())
    while True:
        stripped = _REPLY_PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return text or None


@dataclass
class _Aggregate:
    message_count: int = 0
    last_message_at: datetime | None = None
    participants: dict[str, None] = field(default_factory=dict)
    labels: set[str] = field(default_factory=set)
    subject: str | None = None
    snippet: str | None = None


# Threads that lost messages and still hold some, noted on the session for the job that owns
# the transaction (`take_shrunk_threads`): their match may have rested on what went.
_SHRUNK = "leadflow.shrunk_threads"


def take_shrunk_threads(session: AsyncSession) -> list[int]:
    """The threads this session's recomputes found with fewer messages than before (and not
    emptied), since the last call; the list is cleared."""
    shrunk: set[int] = session.info.pop(_SHRUNK, set())
    return sorted(shrunk)


async def recompute_threads(session: AsyncSession, *, thread_ids: Iterable[int]) -> None:
    """Recompute count, last date, participants, labels, subject and snippet of each thread.

    Subject comes from the earliest message, snippet from the latest (undated messages sort
    first). A thread left without messages is deleted; a manual link or unlink of it is kept
    for its return (`sync.manual_decisions`).
    """
    ids = sorted(set(thread_ids))
    if not ids:
        return
    customers: dict[int, int] = {}
    for chunk in chunks(ids):
        linked = await session.execute(
            select(EmailThread.id, EmailThread.customer_id).where(
                EmailThread.id.in_(chunk), EmailThread.customer_id.is_not(None)
            )
        )
        customers.update({tid: cid for tid, cid in linked if cid is not None})
    aggregates: dict[int, _Aggregate] = {tid: _Aggregate() for tid in ids}
    for chunk in chunks(ids):
        result = await session.execute(
            select(
                EmailMessage.thread_id,
                EmailMessage.sent_at,
                EmailMessage.subject,
                EmailMessage.snippet,
                EmailMessage.from_address,
                EmailMessage.to_addresses,
                EmailMessage.cc_addresses,
                EmailMessage.reply_to_addresses,
                EmailMessage.labels,
            )
            .where(EmailMessage.thread_id.in_(chunk))
            .order_by(
                EmailMessage.thread_id,
                EmailMessage.sent_at.is_not(None),
                EmailMessage.sent_at,
                EmailMessage.id,
            )
        )
        for row in result:
            thread_id, sent_at, subject, snippet, sender, to, cc, reply_to, labels = row
            agg = aggregates[thread_id]
            if agg.message_count == 0:
                agg.subject = normalise_subject(subject)
            agg.message_count += 1
            agg.snippet = snippet
            if sent_at is not None:
                agg.last_message_at = sent_at
            for addr in (sender, *(to or []), *(cc or []), *(reply_to or [])):
                if addr:
                    agg.participants.setdefault(addr.lower(), None)
            agg.labels.update(labels or [])
    changed = await _write_aggregates(session, aggregates)
    # Customers of threads whose messages changed (a deleted mail's date must not linger in
    # last_contact_at); threads without a customer cost nothing here.
    await refresh_counters(session, (customers.get(tid) for tid in changed))


async def _write_aggregates(
    session: AsyncSession, aggregates: Mapping[int, _Aggregate]
) -> set[int]:
    """Write the aggregates that differ, drop empty threads; return the ids of both."""
    empty = [tid for tid, agg in aggregates.items() if agg.message_count == 0]
    for chunk in chunks(empty):
        await keep_decisions(session, chunk)
        await session.execute(delete(EmailThread).where(EmailThread.id.in_(chunk)))
    current: dict[int, tuple[Any, ...]] = {}
    live = [tid for tid, agg in aggregates.items() if agg.message_count]
    for chunk in chunks(live):
        result = await session.execute(
            select(
                EmailThread.id,
                EmailThread.message_count,
                EmailThread.last_message_at,
                EmailThread.participants,
                EmailThread.labels,
                EmailThread.subject,
                EmailThread.snippet,
            ).where(EmailThread.id.in_(chunk))
        )
        current.update({row[0]: tuple(row[1:]) for row in result})
    changed: list[dict[str, Any]] = []
    shrunk = {
        tid for tid in live if tid in current and aggregates[tid].message_count < current[tid][0]
    }
    if shrunk:
        session.info.setdefault(_SHRUNK, set()).update(shrunk)
    for tid in live:
        agg = aggregates[tid]
        values = (
            agg.message_count,
            agg.last_message_at,
            list(agg.participants),
            sorted(agg.labels),
            agg.subject,
            agg.snippet,
        )
        if current.get(tid) != values:
            changed.append(
                {
                    "row_id": tid,
                    "n": values[0],
                    "last": values[1],
                    "people": values[2],
                    "lbl": values[3],
                    "subj": values[4],
                    "snip": values[5],
                }
            )
    if changed:
        await session.execute(
            update(THREADS)
            .where(THREADS.c.id == bindparam("row_id"))
            .values(
                message_count=bindparam("n"),
                last_message_at=bindparam("last"),
                participants=bindparam("people"),
                labels=bindparam("lbl"),
                subject=bindparam("subj"),
                snippet=bindparam("snip"),
                updated_at=utcnow(),
            ),
            changed,
        )
    return set(empty) | {row["row_id"] for row in changed}
