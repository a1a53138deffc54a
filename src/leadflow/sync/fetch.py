"""Download Gmail messages with the raw bytes in flight bounded by size, not by count.

A raw message costs the sync several times its size while it is downloaded, decoded and parsed
(the batch response, the base64 text, the bytes, the MIME tree), so a chunk of a hundred mails
is harmless when they are small and hundreds of megabytes when a few carry large attachments.
So every message is first looked at with format=minimal (`probe`: labels and `sizeEstimate`,
no body), then fetched with format=raw in chunks whose sizes add up to at most half the budget,
the next chunk downloading while the caller stores this one only if both fit the budget
together. A message larger than that is fetched on its own, with nothing else in flight.

The probe also answers whether a message is hidden (spam, trash: never stored) before its body
is downloaded. It costs a messages.get (5 quota units) per message: the price of knowing the
size, since messages.list and history carry no sizes.

A chunk of one message (a large one) is fetched with a single messages.get rather than a batch
of one, whose multipart answer would be copied several times over while being taken apart, and
its base64url text is decoded without intermediate copies. The HTTP client's response objects
sit in a reference cycle, so after a large download the garbage collector is run at once
rather than whenever it next gets round to it.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadflow.sync.gmail import GmailBadRequest, GmailClient, GmailError, GmailNotFound
from leadflow.sync.pipeline import RawMessage, SkippedMessage, SourceItem
from leadflow.sync.store import is_hidden

log = logging.getLogger(__name__)

DEFAULT_FETCH_BYTES = 16 * 1024 * 1024
LARGE_DOWNLOAD = 1024 * 1024  # from here on the garbage collector runs after the download


@dataclass(frozen=True, slots=True)
class Probe:
    """What format=minimal tells about a message before its body is fetched."""

    id: str
    labels: tuple[str, ...]
    size: int

    @property
    def hidden(self) -> bool:
        return is_hidden(self.labels)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    found: list[Probe]
    gone: list[SkippedMessage]  # 404 or refused (400) at the probe


async def probe(client: GmailClient, ids: Sequence[str]) -> ProbeResult:
    """Labels and size of each message (format minimal); gone ones listed apart.

    Other failures (auth, permission, retries exhausted) are raised: no message is skipped
    silently.
    """
    results = await _with_second_round(client, ids, "minimal")
    found: list[Probe] = []
    gone: list[SkippedMessage] = []
    for message_id, result in zip(ids, results, strict=True):
        if isinstance(result, GmailNotFound):
            gone.append(SkippedMessage(message_id, "deleted before it could be fetched (404)"))
        elif isinstance(result, GmailBadRequest):
            gone.append(SkippedMessage(message_id, result.message))
        elif isinstance(result, GmailError):
            raise result
        elif result is not None:
            found.append(
                Probe(
                    message_id,
                    tuple(result.get("labelIds") or ()),
                    _size(result.get("sizeEstimate")),
                )
            )
    return ProbeResult(found, gone)


def plan_chunks(probes: Sequence[Probe], *, budget: int, max_count: int) -> list[list[Probe]]:
    """Consecutive chunks of at most `max_count` messages and `budget` bytes; larger ones alone."""
    chunks: list[list[Probe]] = []
    current: list[Probe] = []
    size = 0
    for item in probes:
        if current and (size + item.size > budget or len(current) >= max_count):
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += item.size
    if current:
        chunks.append(current)
    return chunks


@dataclass
class Fetcher:
    """Raw downloads for one sync, at most `budget` bytes (by sizeEstimate) in flight."""

    client: GmailClient
    budget: int = DEFAULT_FETCH_BYTES
    max_count: int = 100

    async def fetch_ahead(self, probes: Sequence[Probe]) -> AsyncIterator[list[SourceItem]]:
        """Fetch the visible `probes` in chunks, the next downloading while this one is used.

        The caller must drop each chunk before asking for the next: the bound counts on it.
        """
        visible = [p for p in probes if not p.hidden]
        chunks = plan_chunks(visible, budget=max(self.budget // 2, 1), max_count=self.max_count)
        pending: asyncio.Task[list[SourceItem]] | None = None
        try:
            for index, chunk in enumerate(chunks):
                if pending is None:
                    items = await self.fetch([p.id for p in chunk])
                else:
                    items, pending = await pending, None
                following = chunks[index + 1] if index + 1 < len(chunks) else None
                if following and _bytes(chunk) + _bytes(following) <= self.budget:
                    pending = asyncio.create_task(self.fetch([p.id for p in following]))
                yield items
                del items  # before the next chunk is awaited: one chunk held at a time
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending

    async def fetch(self, ids: Sequence[str]) -> list[SourceItem]:
        """Fetch messages (format raw); gone ones become SkippedMessages, hidden ones are left out.

        Any other failure (auth, permission, retries exhausted) is raised, so no message is
        silently lost.
        """
        if len(ids) == 1:
            results: list[dict[str, Any] | GmailError | None] = [
                await _get_one(self.client, ids[0])
            ]
        else:
            results = await _with_second_round(self.client, ids, "raw")
        items = self._items(ids, results)
        if sum(len(item.raw) for item in items if isinstance(item, RawMessage)) >= LARGE_DOWNLOAD:
            gc.collect()
        return items

    def _items(
        self, ids: Sequence[str], results: list[dict[str, Any] | GmailError | None]
    ) -> list[SourceItem]:
        items: list[SourceItem] = []
        for index, message_id in enumerate(ids):
            result, results[index] = results[index], None  # drop each response once decoded
            if isinstance(result, GmailNotFound):
                items.append(SkippedMessage(message_id, "deleted before it could be fetched (404)"))
            elif isinstance(result, GmailBadRequest):
                items.append(SkippedMessage(message_id, result.message))
            elif isinstance(result, GmailError):
                raise result
            elif result is not None:
                item = raw_message(message_id, result)
                if isinstance(item, RawMessage) and is_hidden(item.labels):
                    log.debug("message %s moved to spam or trash meanwhile", message_id)
                    continue
                items.append(item)
        return items


async def _with_second_round(
    client: GmailClient, ids: Sequence[str], format: str
) -> list[dict[str, Any] | GmailError | None]:
    """get_messages, then once more for the messages whose transient retries ran out.

    Under heavy throttling a sync should finish rather than stop for one call.
    """
    results: list[dict[str, Any] | GmailError | None] = list(
        await client.get_messages(ids, format=format)
    )
    again = [i for i, r in enumerate(results) if isinstance(r, GmailError) and not r.permanent]
    if again:
        retried = await client.get_messages([ids[i] for i in again], format=format)
        for index, result in zip(again, retried, strict=True):
            results[index] = result
    return results


async def _get_one(client: GmailClient, message_id: str) -> dict[str, Any] | GmailError:
    """One messages.get (format raw), with the second round of `_with_second_round`."""
    for round_ in (1, 2):
        try:
            return await client.get_message(message_id, format="raw")
        except GmailError as error:
            if error.permanent or round_ == 2:
                return error
    raise AssertionError("unreachable")


# Base64url to base64, dropping whitespace: one str.translate, no further copies.
_BASE64URL = str.maketrans({"-": "+", "_": "/", " ": None, "\t": None, "\r": None, "\n": None})


def take_raw(message: dict[str, Any]) -> bytes:
    """Take Gmail's `raw` (base64url, padding optional) out of `message`, decoded.

    The text is as large as the mail: it leaves the dict first, and each copy is dropped as
    soon as the next exists, so at most two are alive at once.
    """
    text = message.pop("raw", None)
    if not isinstance(text, str):
        raise ValueError("message has no raw field")
    translated = text.translate(_BASE64URL)
    del text
    end = len(translated)
    while end and translated[end - 1] == "=":
        end -= 1
    if end == len(translated) and end % 4:
        translated += "=" * (-end % 4)
    try:
        return binascii.a2b_base64(translated, strict_mode=False)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("message raw field is not valid base64url") from exc


def raw_message(message_id: str, message: dict[str, Any]) -> SourceItem:
    """The pipeline's view of a message fetched with format raw (skipped when unreadable)."""
    try:
        raw = take_raw(message)
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


# Gmail always sends sizeEstimate; a message without one is treated as too large to share a
# chunk.
UNKNOWN_SIZE = 1 << 40


def _size(value: object) -> int:
    if isinstance(value, int | str):
        with contextlib.suppress(ValueError):
            return max(int(value), 0)
    return UNKNOWN_SIZE


def _bytes(chunk: Sequence[Probe]) -> int:
    return sum(p.size for p in chunk)
