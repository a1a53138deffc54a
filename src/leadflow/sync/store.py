"""Store parsed messages exactly once and keep each thread's aggregates true.

Messages are keyed by (mailbox_id, gmail_message_id), threads by (mailbox_id, gmail_thread_id),
and written with INSERT … ON CONFLICT, so storing the same message twice changes nothing.
Thread aggregates are recomputed from the thread's stored messages after every change (store,
delete, relabel), and the counters of the customers on changed threads recounted: one rule,
correct after any mix of changes and re-runs.

What is stored (the same rule for the full and the incremental sync): the mail Gmail lists
without includeSpamTrash, i.e. every message not labelled SPAM or TRASH (`is_hidden`). A
stored message that gets one of those labels is removed like a deleted one; a message that
loses them is fetched and stored like a new one (`sync.incremental`).
Services only flush; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.db import conflict_insert
from leadflow.leads.response_time import MessageFacts
from leadflow.leads.responses import (
    add_replies,
    facts_of_messages,
    lock_responses,
    outbound_facts,
    refresh_for_customers,
    refresh_for_messages,
)
from leadflow.mail.message import ParsedMessage
from leadflow.models import EmailMessage, EmailThread, utcnow
from leadflow.sync.manual_decisions import restore_decisions
from leadflow.sync.thread_aggregates import THREADS as _THREADS
from leadflow.sync.thread_aggregates import chunks as _chunks
from leadflow.sync.thread_aggregates import recompute_threads

_MESSAGES: Table = EmailMessage.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as written by this batch: its row ids and whether it is new."""

    id: int
    thread_id: int
    gmail_message_id: str
    gmail_thread_id: str
    is_new: bool
    message: ParsedMessage


@dataclass(slots=True)
class StoreResult:
    """What one `store_messages` call did; `stored` holds the new and the changed messages."""

    stored: list[StoredMessage] = field(default_factory=list)
    new: int = 0
    updated: int = 0
    unchanged: int = 0


HIDDEN_LABELS = frozenset({"SPAM", "TRASH"})


def is_hidden(labels: Sequence[str]) -> bool:
    """True for mail Gmail leaves out of its listings (spam, trash): never stored."""
    return not HIDDEN_LABELS.isdisjoint(labels)


@dataclass(frozen=True, slots=True)
class LabelChange:
    """Label edits for one message, in order: ("add" | "remove" | "set", label ids)."""

    ops: tuple[tuple[str, tuple[str, ...]], ...]

    def apply(self, labels: Sequence[str]) -> list[str]:
        """Return `labels` after the edits, keeping the original order of labels that stay."""
        result = list(labels)
        for op, ids in self.ops:
            if op == "set":
                result = list(dict.fromkeys(ids))
            elif op == "add":
                result.extend(label for label in ids if label not in result)
            else:
                result = [label for label in result if label not in ids]
        return result


def _message_row(mailbox_id: int, thread_id: int, msg: ParsedMessage) -> dict[str, Any]:
    return {
        "mailbox_id": mailbox_id,
        "thread_id": thread_id,
        "gmail_message_id": msg.gmail_message_id,
        "rfc822_message_id": msg.rfc822_message_id,
        "in_reply_to": msg.in_reply_to,
        "references": list(msg.references),
        "from_address": msg.from_address.email if msg.from_address else None,
        "from_name": (msg.from_address.name or None) if msg.from_address else None,
        "to_addresses": [a.email for a in msg.to],
        "cc_addresses": [a.email for a in msg.cc],
        "reply_to_addresses": [a.email for a in msg.reply_to],
        "subject": msg.subject,
        "body_text": msg.body_text,
        "body_truncated": msg.body_truncated,
        "snippet": msg.snippet,
        "direction": msg.direction,
        "labels": list(msg.labels),
        "has_attachments": bool(msg.attachments),
        "attachments": [
            {"filename": a.filename, "mime_type": a.mime_type, "size_bytes": a.size_bytes}
            for a in msg.attachments
        ],
        "size_bytes": msg.size_bytes,
        "sent_at": msg.sent_at,
        "history_id": msg.history_id,
        "created_at": utcnow(),
    }


async def existing_message_ids(
    session: AsyncSession, *, mailbox_id: int, gmail_message_ids: Sequence[str]
) -> set[str]:
    """Return which of `gmail_message_ids` are already stored in the mailbox."""
    found: set[str] = set()
    for chunk in _chunks(gmail_message_ids):
        rows = await session.execute(
            select(EmailMessage.gmail_message_id).where(
                EmailMessage.mailbox_id == mailbox_id,
                EmailMessage.gmail_message_id.in_(chunk),
            )
        )
        found.update(rows.scalars())
    return found


async def _ensure_threads(
    session: AsyncSession, *, mailbox_id: int, gmail_thread_ids: Sequence[str]
) -> dict[str, int]:
    """Create missing thread rows (empty aggregates) and return gmail_thread_id → row id."""
    now = utcnow()
    for chunk in _chunks(gmail_thread_ids):
        rows = [
            {
                "mailbox_id": mailbox_id,
                "gmail_thread_id": gid,
                "participants": [],
                "labels": [],
                "message_count": 0,
                "created_at": now,
                "updated_at": now,
            }
            for gid in chunk
        ]
        stmt = conflict_insert(session, _THREADS).on_conflict_do_nothing(
            index_elements=["mailbox_id", "gmail_thread_id"]
        )
        await session.execute(stmt, rows)
    ids: dict[str, int] = {}
    for chunk in _chunks(gmail_thread_ids):
        result = await session.execute(
            select(EmailThread.gmail_thread_id, EmailThread.id).where(
                EmailThread.mailbox_id == mailbox_id, EmailThread.gmail_thread_id.in_(chunk)
            )
        )
        ids.update({gid: tid for gid, tid in result})
    return ids


async def store_messages(
    session: AsyncSession, *, mailbox_id: int, messages: Sequence[ParsedMessage]
) -> StoreResult:
    """Upsert `messages` and their threads; a message already stored unchanged is left alone.

    A stored message counts as changed when its thread, labels or history id differ (Gmail
    messages are immutable apart from those). Returns the new and changed messages. Messages
    labelled SPAM or TRASH are not stored (and removed if they were).
    """
    latest: dict[str, ParsedMessage] = {m.gmail_message_id: m for m in messages}
    if latest:
        await lock_responses(session)  # before any row lock (`leads.responses`)
    hidden = [gid for gid, m in latest.items() if is_hidden(m.labels)]
    if hidden:
        # Spam and trash are never stored (module docstring); a stored copy goes.
        await delete_messages(session, mailbox_id=mailbox_id, gmail_message_ids=hidden)
        for gid in hidden:
            del latest[gid]
    if not latest:
        return StoreResult()
    batch = list(latest.values())
    thread_ids = await _ensure_threads(
        session,
        mailbox_id=mailbox_id,
        gmail_thread_ids=sorted({m.gmail_thread_id for m in batch}),
    )
    # A thread decided by hand that left the mailbox and is back: the decision comes back too.
    restored = await restore_decisions(session, mailbox_id=mailbox_id, thread_ids=thread_ids)
    before: dict[str, tuple[int, list[str], str | None]] = {}
    for chunk in _chunks([m.gmail_message_id for m in batch]):
        result = await session.execute(
            select(
                EmailMessage.gmail_message_id,
                EmailMessage.thread_id,
                EmailMessage.labels,
                EmailMessage.history_id,
            ).where(
                EmailMessage.mailbox_id == mailbox_id,
                EmailMessage.gmail_message_id.in_(chunk),
            )
        )
        before.update({gid: (tid, list(lbl or []), hid) for gid, tid, lbl, hid in result})

    out = StoreResult()
    to_write: list[ParsedMessage] = []
    touched_threads: set[int] = set()
    for msg in batch:
        thread_id = thread_ids[msg.gmail_thread_id]
        old = before.get(msg.gmail_message_id)
        if old is None:
            out.new += 1
        elif old != (thread_id, list(msg.labels), msg.history_id):
            out.updated += 1
            touched_threads.add(old[0])
        else:
            out.unchanged += 1
            continue
        to_write.append(msg)
        touched_threads.add(thread_id)

    if to_write:
        row_ids = await _upsert_messages(session, mailbox_id, thread_ids, to_write)
        out.stored = [
            StoredMessage(
                id=row_ids[m.gmail_message_id],
                thread_id=thread_ids[m.gmail_thread_id],
                gmail_message_id=m.gmail_message_id,
                gmail_thread_id=m.gmail_thread_id,
                is_new=m.gmail_message_id not in before,
                message=m,
            )
            for m in to_write
        ]
    await recompute_threads(session, thread_ids=touched_threads)
    # A new or moved reply can change when its leads were first answered (`leads.responses`).
    new_ids = [s.id for s in out.stored if s.is_new]
    await add_replies(session, await facts_of_messages(session, new_ids))
    changed_ids = [s.id for s in out.stored if not s.is_new]
    await refresh_for_messages(session, await facts_of_messages(session, changed_ids))
    await refresh_for_customers(session, restored)
    return out


async def _upsert_messages(
    session: AsyncSession,
    mailbox_id: int,
    thread_ids: Mapping[str, int],
    messages: Sequence[ParsedMessage],
) -> dict[str, int]:
    """Insert or overwrite `messages`; return gmail_message_id → row id."""
    rows = [_message_row(mailbox_id, thread_ids[m.gmail_thread_id], m) for m in messages]
    stmt = conflict_insert(session, _MESSAGES)
    keep = {"id", "mailbox_id", "gmail_message_id", "created_at"}
    stmt = stmt.on_conflict_do_update(
        index_elements=["mailbox_id", "gmail_message_id"],
        set_={
            col.name: stmt.excluded[col.name] for col in _MESSAGES.columns if col.name not in keep
        },
    )
    # executemany: one cached statement; SQLAlchemy batches the rows into multi-row VALUES,
    # and RETURNING hands back the ids without a second query.
    result = await session.execute(
        stmt.returning(_MESSAGES.c.gmail_message_id, _MESSAGES.c.id), rows
    )
    return {gid: row_id for gid, row_id in result}


async def delete_messages(
    session: AsyncSession, *, mailbox_id: int, gmail_message_ids: Sequence[str]
) -> int:
    """Delete messages (absent ones are ignored) and fix or drop their threads; return the count.

    A deleted reply no longer answers its leads: they are recomputed (`leads.responses`).
    """
    deleted = 0
    threads: set[int] = set()
    replies: list[MessageFacts] = []
    if gmail_message_ids:
        await lock_responses(session)
    for chunk in _chunks(gmail_message_ids):
        where = (
            EmailMessage.mailbox_id == mailbox_id,
            EmailMessage.gmail_message_id.in_(chunk),
        )
        found = (await session.execute(select(EmailMessage.thread_id).where(*where))).scalars()
        found_ids = list(found)
        if not found_ids:
            continue
        threads.update(found_ids)
        deleted += len(found_ids)
        replies += await outbound_facts(session, *where)
        await session.execute(delete(EmailMessage).where(*where))
    await recompute_threads(session, thread_ids=threads)
    await refresh_for_messages(session, replies)
    return deleted


@dataclass(frozen=True, slots=True)
class RelabelResult:
    """Stored messages whose labels changed, and those removed for becoming hidden."""

    relabelled: int = 0
    removed: int = 0


async def apply_label_changes(
    session: AsyncSession, *, mailbox_id: int, changes: Mapping[str, LabelChange]
) -> RelabelResult:
    """Apply label edits to stored messages (absent ones are ignored).

    A message the edits move to SPAM or TRASH is deleted instead (see the module docstring).
    """
    changed: list[dict[str, Any]] = []
    hidden: list[str] = []
    threads: set[int] = set()
    for chunk in _chunks(list(changes)):
        result = await session.execute(
            select(
                EmailMessage.id,
                EmailMessage.gmail_message_id,
                EmailMessage.thread_id,
                EmailMessage.labels,
            ).where(
                EmailMessage.mailbox_id == mailbox_id,
                EmailMessage.gmail_message_id.in_(chunk),
            )
        )
        for row_id, gid, thread_id, labels in result:
            new_labels = changes[gid].apply(labels or [])
            if is_hidden(new_labels):
                hidden.append(gid)
            elif new_labels != list(labels or []):
                changed.append({"row_id": row_id, "new_labels": new_labels})
                threads.add(thread_id)
    if changed:
        await session.execute(
            update(_MESSAGES)
            .where(_MESSAGES.c.id == bindparam("row_id"))
            .values(labels=bindparam("new_labels")),
            changed,
        )
    await recompute_threads(session, thread_ids=threads)
    removed = await delete_messages(session, mailbox_id=mailbox_id, gmail_message_ids=hidden)
    return RelabelResult(relabelled=len(changed), removed=removed)


async def remove_unlisted(
    session: AsyncSession, *, mailbox_id: int, listed: set[str], prefix_to_keep: str = "mbox:"
) -> int:
    """Delete stored Gmail messages missing from a complete listing (gone, or now hidden).

    `prefix_to_keep` spares rows an mbox import wrote into this mailbox before mailboxes were
    kept to one provider (`sync.mailboxes`).
    """
    stored = await session.execute(
        select(EmailMessage.gmail_message_id).where(EmailMessage.mailbox_id == mailbox_id)
    )
    gone = [
        gid for gid in stored.scalars() if gid not in listed and not gid.startswith(prefix_to_keep)
    ]
    if not gone:
        return 0
    return await delete_messages(session, mailbox_id=mailbox_id, gmail_message_ids=gone)
