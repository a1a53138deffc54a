"""Mail sources: where raw messages come from (Gmail, an mbox file), page by page.

A source only delivers bytes and ids; parsing, storing and processing are the pipeline's
(`mail.pipeline`), the same for every source.
"""

from __future__ import annotations

import asyncio
import hashlib
import mailbox
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Protocol

from leadflow.mail.mime import normalise_message_id, parse_references
from leadflow.sync.fetch import Fetcher, ProbeResult, probe
from leadflow.sync.gmail import GmailClient
from leadflow.sync.history import HistoryChanges, apply_history_records
from leadflow.sync.pipeline import RawMessage, SourceItem

# Returns which of the given message ids are stored already, so the source need not fetch them.
StoredFilter = Callable[[Sequence[str]], Awaitable[set[str]]]

LIST_PAGE_SIZE = 500
MBOX_PREFIX = "mbox:"
MAX_ID_CHARS = 200  # email_messages.gmail_message_id / email_threads.gmail_thread_id


@dataclass(frozen=True, slots=True)
class SourcePage:
    """Messages delivered (`items`) and messages looked at (`seen`, including skipped stored ones).

    `labels` carries the current labels of already-stored messages (a Gmail listing).
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
class GmailSource:
    """Messages of one Gmail mailbox: the full listing, probed, then fetched by size."""

    client: GmailClient
    fetcher: Fetcher
    listed: set[str] = field(default_factory=set)

    async def pages(self, *, stored: StoredFilter) -> AsyncIterator[SourcePage]:
        """Every message in the mailbox (messages.list, spam and trash excluded).

        Each listed message is probed (format minimal): stored ones get their current labels
        in `SourcePage.labels` (label changes made while history was lost, or while a killed
        first sync was away, are kept); the others are fetched unless they went to spam or
        trash meanwhile. The ids listed end up in `listed`, so that after a complete listing
        the caller can remove messages that are gone.
        """
        token: str | None = None
        while True:
            page = await self.client.list_messages(page_token=token, max_results=LIST_PAGE_SIZE)
            ids = [str(m["id"]) for m in page.get("messages", []) if m.get("id")]
            self.listed.update(ids)
            known = await stored(ids) if ids else set()
            probed = await probe(self.client, ids) if ids else ProbeResult([], [])
            labels = {p.id: p.labels for p in probed.found if p.id in known}
            new = [p for p in probed.found if p.id not in known]
            gone = [g for g in probed.gone if g.message_id not in known]
            yield SourcePage(items=gone, seen=len(known) + len(gone), labels=labels)
            async for items in self.fetcher.fetch_ahead(new):
                yield SourcePage(items=items, seen=len(items))
                del items  # the fetch bound counts on one chunk held at a time
            hidden = sum(p.hidden for p in new)
            if hidden:
                yield SourcePage(items=(), seen=hidden)
            token = page.get("nextPageToken")
            if not token:
                return

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


class NotAnMbox(ValueError):
    """The file given as an mbox is empty or is not in mbox format."""


def check_mbox(path: Path) -> None:
    """Raise NotAnMbox unless `path` starts (after blank lines) with an mbox `From ` line.

    Python's mailbox module reads any file, and one without a `From ` line as zero messages, so
    a wrong file would otherwise be "imported" with nothing seen and no complaint.
    """
    head = b""
    with path.open("rb") as file:
        while len(head) < len(b"From ") and (chunk := file.read(65536)):
            head = (head + chunk).lstrip(b" \t\r\n")
    if not head:
        raise NotAnMbox(f"{path} is empty: there are no messages to import")
    if not head.startswith(b"From "):
        raise NotAnMbox(f"{path} is not an mbox file: it must begin with a `From ` line")


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
        await asyncio.to_thread(check_mbox, self.path)
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
