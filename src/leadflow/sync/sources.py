"""Mail sources: where raw messages come from (Gmail, an mbox file), page by page.

A source only delivers bytes and ids; parsing, storing and processing are the pipeline's
(`mail.pipeline`), the same for every source.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import mailbox
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any, Protocol

from leadflow.mail.mime import normalise_message_id, parse_references
from leadflow.sync.gmail import (
    GmailBadRequest,
    GmailClient,
    GmailError,
    GmailNotFound,
    decode_raw,
)
from leadflow.sync.pipeline import RawMessage, SkippedMessage, SourceItem
from leadflow.sync.store import LabelChange

# Returns which of the given message ids are stored already, so the source need not fetch them.
StoredFilter = Callable[[Sequence[str]], Awaitable[set[str]]]

LIST_PAGE_SIZE = 500
MBOX_PREFIX = "mbox:"
MAX_ID_CHARS = 200  # email_messages.gmail_message_id / email_threads.gmail_thread_id


@dataclass(frozen=True, slots=True)
class SourcePage:
    """Messages delivered (`items`) and messages looked at (`seen`, including skipped stored ones).

    `labels` carries the current labels of already-stored messages when the source was asked
    to refresh them (a full resync), so label changes made while history was lost are kept.
    """

    items: Sequence[SourceItem]
    seen: int
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)


class MailSource(Protocol):
    """A supplier of raw messages for the pipeline."""

    def pages(self, *, stored: StoredFilter) -> AsyncIterator[SourcePage]:
        """Deliver every message of the source, skipping those `stored` reports as stored."""
        ...


# --- Gmail -----------------------------------------------------------------------------------


@dataclass
class HistoryChanges:
    """The net effect of a run of Gmail history records (applied in record order)."""

    history_id: str
    added: dict[str, str] = field(default_factory=dict)  # message id → thread id
    deleted: set[str] = field(default_factory=set)
    labels: dict[str, list[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)

    def label_changes(self) -> dict[str, LabelChange]:
        return {mid: LabelChange(tuple(ops)) for mid, ops in self.labels.items()}

    @property
    def touched(self) -> int:
        return len(set(self.added) | self.deleted | set(self.labels))


def apply_history_records(changes: HistoryChanges, records: Sequence[dict[str, Any]]) -> None:
    """Fold history records into `changes`: later records win over earlier ones."""
    for record in records:
        for entry in record.get("messagesAdded", []):
            msg = entry.get("message", {})
            if msg.get("id"):
                changes.added[msg["id"]] = str(msg.get("threadId") or msg["id"])
                changes.deleted.discard(msg["id"])
        for entry in record.get("messagesDeleted", []):
            mid = entry.get("message", {}).get("id")
            if mid:
                changes.deleted.add(mid)
                changes.added.pop(mid, None)
                changes.labels.pop(mid, None)
        for key, op in (("labelsAdded", "add"), ("labelsRemoved", "remove")):
            for entry in record.get(key, []):
                mid = entry.get("message", {}).get("id")
                if mid and mid not in changes.deleted:
                    ops = changes.labels.setdefault(mid, [])
                    ops.append((op, tuple(entry.get("labelIds", []))))


def raw_message(message_id: str, message: dict[str, Any]) -> SourceItem:
    """The pipeline's view of a message fetched with format raw (skipped when unreadable)."""
    try:
        raw = decode_raw(message)
    except ValueError as exc:
        return SkippedMessage(message_id, f"unreadable raw message: {exc}")
    return RawMessage(
        raw=raw,
        gmail_message_id=str(message.get("id") or message_id),
        gmail_thread_id=str(message.get("threadId") or message_id),
        labels=tuple(message.get("labelIds") or ()),
        internal_date=internal_date(message),
        history_id=str(message["historyId"]) if message.get("historyId") else None,
    )


def internal_date(message: dict[str, Any]) -> datetime | None:
    """Gmail's internalDate (ms since the epoch, as a string) as an aware UTC datetime."""
    value = message.get("internalDate")
    if not isinstance(value, str | int):
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


@dataclass
class GmailSource:
    """Messages of one Gmail mailbox: the full listing, batched fetches, and history."""

    client: GmailClient
    fetch_chunk: int = 100
    refresh_existing: bool = False
    listed: set[str] = field(default_factory=set)

    async def pages(self, *, stored: StoredFilter) -> AsyncIterator[SourcePage]:
        """Every message in the mailbox (messages.list, spam and trash excluded).

        Already stored messages are not fetched again. The ids listed end up in `listed`, so
        that after a complete listing the caller can remove messages that are gone.
        """
        token: str | None = None
        while True:
            page = await self.client.list_messages(page_token=token, max_results=LIST_PAGE_SIZE)
            ids = [str(m["id"]) for m in page.get("messages", []) if m.get("id")]
            self.listed.update(ids)
            known = await stored(ids) if ids else set()
            if known:
                labels = await self._current_labels(sorted(known)) if self.refresh_existing else {}
                yield SourcePage(items=(), seen=len(known), labels=labels)
            async for items in self.fetch_ahead([i for i in ids if i not in known]):
                yield SourcePage(items=items, seen=len(items))
            token = page.get("nextPageToken")
            if not token:
                return

    async def fetch_ahead(self, ids: Sequence[str]) -> AsyncIterator[list[SourceItem]]:
        """Fetch `ids` in chunks, the next chunk downloading while the caller stores this one."""
        chunks = [ids[i : i + self.fetch_chunk] for i in range(0, len(ids), self.fetch_chunk)]
        if not chunks:
            return
        pending = asyncio.create_task(self.fetch(chunks[0]))
        try:
            for index in range(len(chunks)):
                items = await pending
                if index + 1 < len(chunks):
                    pending = asyncio.create_task(self.fetch(chunks[index + 1]))
                yield items
        finally:
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending

    async def fetch(self, ids: Sequence[str]) -> list[SourceItem]:
        """Fetch messages (format raw) in Gmail batches of the client's `batch_size`.

        A message gone meanwhile (404) or refused (400) becomes a SkippedMessage; any other
        failure (auth, permission, retries exhausted) is raised, so no message is silently lost.
        Messages whose transient retries ran out get one more round (a fresh set of attempts)
        before that: under heavy throttling a sync should finish rather than stop for one call.
        """
        results: list[dict[str, Any] | GmailError] = list(
            await self.client.get_messages(ids, format="raw")
        )
        again = [i for i, r in enumerate(results) if isinstance(r, GmailError) and not r.permanent]
        if again:
            retried = await self.client.get_messages([ids[i] for i in again], format="raw")
            for index, result in zip(again, retried, strict=True):
                results[index] = result
        items: list[SourceItem] = []
        for message_id, result in zip(ids, results, strict=True):
            if isinstance(result, GmailNotFound):
                items.append(SkippedMessage(message_id, "deleted before it could be fetched (404)"))
            elif isinstance(result, GmailBadRequest):
                items.append(SkippedMessage(message_id, result.message))
            elif isinstance(result, GmailError):
                raise result
            else:
                items.append(raw_message(message_id, result))
        return items

    async def _current_labels(self, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Labels of already stored messages (format minimal); gone ones are left out."""
        results = await self.client.get_messages(ids, format="minimal")
        labels: dict[str, tuple[str, ...]] = {}
        for message_id, result in zip(ids, results, strict=True):
            if isinstance(result, GmailNotFound | GmailBadRequest):
                continue
            if isinstance(result, GmailError):
                raise result
            labels[message_id] = tuple(result.get("labelIds") or ())
        return labels

    async def history(self, *, start_history_id: str) -> HistoryChanges:
        """All history since `start_history_id` (every page); raises GmailNotFound when too old."""
        changes = HistoryChanges(history_id=start_history_id)
        token: str | None = None
        while True:
            page = await self.client.list_history(
                start_history_id=start_history_id, page_token=token
            )
            apply_history_records(changes, page.get("history", []))
            if page.get("historyId"):
                changes.history_id = str(page["historyId"])
            token = page.get("nextPageToken")
            if not token:
                return changes


# --- mbox ------------------------------------------------------------------------------------


def mbox_id(message_id: str) -> str:
    """`mbox:<message id>`; an id too long for the column (200) is replaced by its hash."""
    value = MBOX_PREFIX + message_id
    if len(value) <= MAX_ID_CHARS:
        return value
    return f"{MBOX_PREFIX}sha256:{hashlib.sha256(message_id.encode()).hexdigest()}"


def mbox_message_id(raw: bytes, headers: Message) -> str:
    """`mbox:<Message-ID>`, or `mbox:sha256:<hash of the bytes>` when it has none."""
    message_id = normalise_message_id(headers.get("Message-ID"))
    if message_id:
        return mbox_id(message_id)
    return f"{MBOX_PREFIX}sha256:{hashlib.sha256(raw).hexdigest()}"


def mbox_thread_id(headers: Message, own_id: str, threads: dict[str, str]) -> str:
    """The thread of an mbox message, the rule documented on `MboxSource`."""
    parent = normalise_message_id(headers.get("In-Reply-To"))
    references = parse_references(headers.get("References"))
    for candidate in (parent, *reversed(references)):
        if candidate and mbox_id(candidate) in threads:
            return threads[mbox_id(candidate)]
    if references:
        return mbox_id(references[0])
    if parent:
        return mbox_id(parent)
    return own_id


@dataclass
class MboxSource:
    """Messages of a local mbox file (Python's `mailbox.mbox`), in file order.

    Ids: `mbox:<Message-ID>` (normalised), or `mbox:sha256:<hex>` of the raw bytes when the
    message has no Message-ID, so a re-import finds the same ids.
    Threads: a reply joins the thread of the first of its parents seen earlier in the file
    (In-Reply-To, then References from the nearest ancestor back); otherwise its thread is
    named after the root of its References, else its In-Reply-To, else its own id. So a reply
    lands in its original's thread whether or not every message in between is in the file.
    """

    path: Path
    chunk: int = 200
    threads: dict[str, str] = field(default_factory=dict)

    async def pages(self, *, stored: StoredFilter) -> AsyncIterator[SourcePage]:
        box = mailbox.mbox(self.path, create=False)
        try:
            keys: list[str] = await asyncio.to_thread(box.keys)
            for start in range(0, len(keys), self.chunk):
                chunk = keys[start : start + self.chunk]
                raws = await asyncio.to_thread(_read_all, box, chunk)
                messages = [self._identify(raw) for raw in raws]
                known = await stored([m.gmail_message_id for m in messages])
                items = [m for m in messages if m.gmail_message_id not in known]
                yield SourcePage(items=items, seen=len(messages))
        finally:
            box.close()

    def _identify(self, raw: bytes) -> RawMessage:
        """Name the message and its thread (see the class docstring)."""
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        own_id = mbox_message_id(raw, headers)
        thread_id = self.threads.get(own_id) or mbox_thread_id(headers, own_id, self.threads)
        self.threads.setdefault(own_id, thread_id)
        return RawMessage(raw=raw, gmail_message_id=own_id, gmail_thread_id=thread_id)


def _read_all(box: mailbox.mbox, keys: Sequence[str]) -> list[bytes]:
    return [box.get_bytes(key) for key in keys]
