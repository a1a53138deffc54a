"""Raw RFC 822 bytes to a ParsedMessage: pure, lenient, and never raising.

Broken input is stored as well as it can be; what went wrong is listed in `defects`.
Helpers live in the sibling modules charset (decoding), headers (addresses, dates, ids), tree
(parsing and walking) and parts (body and attachments).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from email.message import Message

from leadflow.mail.message import Address, ParsedMessage
from leadflow.mail.mime.charset import clean_header, decode_words, restore_8bit
from leadflow.mail.mime.headers import (
    as_utc,
    normalise_message_id,
    parse_addresses,
    parse_date,
    parse_references,
)
from leadflow.mail.mime.parts import attachments, body_parts, body_text
from leadflow.mail.mime.tree import parse_tree, repair_multiparts, walk
from leadflow.models import Direction

__all__ = [
    "direction_of",
    "normalise_message_id",
    "parse_message",
    "parse_references",
    "snippet_of",
]

MAX_DEFECTS = 50
SENT_LABEL = "SENT"
_WORD = re.compile(r"\S+")


def parse_message(
    raw: bytes,
    *,
    gmail_message_id: str,
    gmail_thread_id: str,
    labels: Sequence[str] = (),
    internal_date: datetime | None = None,
    history_id: str | None = None,
    own_domains: Sequence[str] = ("rendetalje.dk",),
    max_body_bytes: int = 1_000_000,
) -> ParsedMessage:
    """Parse one raw email. Never raises: problems are recorded in `defects`.

    `internal_date` (Gmail's, aware UTC) stands in for a missing or unusable Date header.
    `body_text` holds at most `max_body_bytes` UTF-8 bytes; `body_truncated` says it was cut.
    """
    label_tuple = (labels,) if isinstance(labels, str) else tuple(labels)
    try:
        return _parse(
            raw if isinstance(raw, bytes) else bytes(memoryview(raw)),
            ids=(gmail_message_id, gmail_thread_id, history_id),
            labels=label_tuple,
            internal_date=internal_date,
            own_domains=own_domains,
            max_body_bytes=max_body_bytes,
        )
    except Exception as exc:  # the last line of defence: a sync must never stop on one message
        return _unparsed(
            raw, gmail_message_id, gmail_thread_id, label_tuple, internal_date, history_id, exc
        )


def _parse(
    raw: bytes,
    *,
    ids: tuple[str, str, str | None],
    labels: tuple[str, ...],
    internal_date: datetime | None,
    own_domains: Sequence[str],
    max_body_bytes: int,
) -> ParsedMessage:
    defects: list[str] = []
    msg, tree_usable = parse_tree(raw, defects)
    parts = list(walk(msg, defects))
    if tree_usable and repair_multiparts(parts, defects):
        parts = list(walk(msg, defects))
    for part in parts:
        defects.extend(f"mime: {type(defect).__name__}" for defect in part.defects)

    senders = parse_addresses(_all(msg, "from"), "From", defects)
    sender = senders[0] if senders else None
    # Separate safety nets, so that a surprise in one part of the tree costs only that part.
    try:
        body = body_parts(msg, 0)
        text, truncated = body_text(body, max_body_bytes, defects)
    except Exception as exc:
        body, text, truncated = [], "", False
        defects.append(f"body unreadable ({type(exc).__name__})")
    try:
        files = attachments(parts, body, defects, _linesep(raw))
    except Exception as exc:
        files = ()
        defects.append(f"attachments unreadable ({type(exc).__name__})")
    return ParsedMessage(
        gmail_message_id=ids[0],
        gmail_thread_id=ids[1],
        rfc822_message_id=normalise_message_id(_first(msg, "message-id")),
        in_reply_to=normalise_message_id(_first(msg, "in-reply-to")),
        references=parse_references(" ".join(_all(msg, "references"))),
        from_address=sender,
        to=parse_addresses(_all(msg, "to"), "To", defects),
        cc=parse_addresses(_all(msg, "cc"), "Cc", defects),
        reply_to=parse_addresses(_all(msg, "reply-to"), "Reply-To", defects),
        subject=clean_header(decode_words(_first(msg, "subject") or "", defects)),
        body_text=text,
        body_truncated=truncated,
        snippet=snippet_of(text),
        direction=direction_of(sender, labels, own_domains),
        labels=labels,
        attachments=files,
        size_bytes=len(raw),
        sent_at=parse_date(_first(msg, "date"), defects) or as_utc(internal_date),
        history_id=ids[2],
        defects=_bounded(defects),
    )


def _linesep(raw: bytes) -> str:
    return "\r\n" if b"\r\n" in raw[:4096] else "\n"


def _all(msg: Message, name: str) -> list[str]:
    values = msg.get_all(name) or []
    return [restore_8bit(v) for v in values if isinstance(v, str)]


def _first(msg: Message, name: str) -> str | None:
    values = _all(msg, name)
    return values[0] if values else None


def _bounded(defects: list[str]) -> tuple[str, ...]:
    distinct = tuple(dict.fromkeys(defects))
    if len(distinct) <= MAX_DEFECTS:
        return distinct
    return (*distinct[: MAX_DEFECTS - 1], f"... and {len(distinct) - MAX_DEFECTS + 1} more")


def _unparsed(
    raw: object,
    gmail_message_id: str,
    gmail_thread_id: str,
    labels: tuple[str, ...],
    internal_date: datetime | None,
    history_id: str | None,
    exc: Exception,
) -> ParsedMessage:
    try:
        size = len(raw)  # type: ignore[arg-type]
    except Exception:
        size = 0
    try:
        sent_at = as_utc(internal_date)
    except Exception:
        sent_at = None
    return ParsedMessage(
        gmail_message_id=gmail_message_id,
        gmail_thread_id=gmail_thread_id,
        rfc822_message_id=None,
        in_reply_to=None,
        references=(),
        from_address=None,
        to=(),
        cc=(),
        reply_to=(),
        subject="",
        body_text="",
        body_truncated=False,
        snippet="",
        direction=Direction.OUTBOUND if SENT_LABEL in labels else Direction.INBOUND,
        labels=labels,
        attachments=(),
        size_bytes=size,
        sent_at=sent_at,
        history_id=history_id,
        defects=(f"internal error: {type(exc).__name__}",),
    )


def direction_of(
    sender: Address | None, labels: Sequence[str], own_domains: Sequence[str]
) -> Direction:
    """Outbound when the message has the SENT label or the sender is at an own (sub)domain."""
    if SENT_LABEL in labels:
        return Direction.OUTBOUND
    if isinstance(own_domains, str):  # a lone domain passed by mistake must not become letters
        own_domains = (own_domains,)
    if sender is None:
        return Direction.INBOUND
    domain = sender.email.rpartition("@")[2].lower()
    for own in own_domains:
        own = own.strip().lstrip("@").strip(".").lower()
        if own and (domain == own or domain.endswith("." + own)):
            return Direction.OUTBOUND
    return Direction.INBOUND


def snippet_of(text: str, length: int = 200) -> str:
    """Return the first `length` characters of `text` with all whitespace runs as one space."""
    if length <= 0:
        return ""
    words: list[str] = []
    size = 0
    for match in _WORD.finditer(text):
        words.append(match.group())
        size += len(words[-1]) + 1
        if size > length:
            break
    return " ".join(words)[:length].rstrip()
