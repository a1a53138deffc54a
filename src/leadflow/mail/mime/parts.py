"""Walk a parsed MIME tree: pick the body parts and list the attachments (pure; never raises)."""

from __future__ import annotations

import re
from email.message import Message

from leadflow.mail.message import Attachment
from leadflow.mail.mime.charset import (
    cap_utf8,
    clean_body,
    clean_header,
    decode_bytes,
    decode_words,
    restore_8bit,
)
from leadflow.mail.mime.html import html_to_text
from leadflow.mail.mime.tree import MAX_DEPTH, RAW_HEADERS

MAX_FILENAME_CHARS = 255
# html_to_text runs at a few MB/s in pure Python; markup beyond this many characters per
# allowed body byte is not read (the body is then flagged as truncated).
HTML_CHARS_PER_BODY_BYTE = 2
# Inline data: URIs (pasted images) can be megabytes of base64 with no readable text.
_DATA_URI = re.compile(r"data:[\w.+/-]{1,100};base64,[A-Za-z0-9+/=\s]{256,}")
_EMBEDDED_MESSAGES = frozenset({"message/rfc822", "message/global"})


def is_attachment(part: Message) -> bool:
    """Return True for a part marked as attachment or carrying a file name."""
    return part.get_content_disposition() == "attachment" or _filename_param(part) is not None


def _filename_param(part: Message) -> str | tuple[str | None, str | None, str] | None:
    # Read like Message.get_filename, minus its RFC 2231 decoding, which mangles (or raises
    # on) raw 8-bit bytes; `_filename` decodes leniently instead.
    try:
        value = part.get_param("filename", None, "content-disposition")
        if value is None:
            value = part.get_param("name", None, "content-type")
    except Exception:
        return ""  # present but unreadable
    return value


def body_parts(part: Message, depth: int) -> list[tuple[Message, str]]:
    """Return the leaf text parts (with their content types) that make up the readable body."""
    if depth > MAX_DEPTH:
        return []  # `tree.walk` records the defect
    ctype = part.get_content_type()
    maintype, _, subtype = ctype.partition("/")
    if maintype == "message":
        return []
    if not part.is_multipart():
        if ctype in ("text/plain", "text/html") and not is_attachment(part):
            return [(part, ctype)]
        return []
    children = [c for c in part.get_payload() if isinstance(c, Message)]
    if subtype == "alternative":
        options = [body_parts(child, depth + 1) for child in children]
        for wanted in ("text/plain", "text/html"):
            for option in options:
                if any(found == wanted for _, found in option):
                    return option
        return []
    if subtype == "related" and children:
        return body_parts(_related_root(part, children), depth + 1)
    parts: list[tuple[Message, str]] = []
    for child in children:
        parts.extend(body_parts(child, depth + 1))
    return parts


def _related_root(part: Message, children: list[Message]) -> Message:
    start = part.get_param("start")
    if isinstance(start, str):
        for child in children:
            if str(child.get("content-id", "")).strip() == start.strip():
                return child
    return children[0]


def body_text(
    parts: list[tuple[Message, str]], max_bytes: int, defects: list[str]
) -> tuple[str, bool]:
    """Decode the chosen parts (plain preferred over HTML), join them and cap the result."""
    plain = [(p, ctype) for p, ctype in parts if ctype == "text/plain"]
    texts: list[str] = []
    truncated = False
    for part, ctype in plain or parts:
        text = part_text(part, defects)
        if ctype == "text/html":
            html = _DATA_URI.sub("data:", text)
            limit = max(64_000, max_bytes * HTML_CHARS_PER_BODY_BYTE)
            if len(html) > limit:
                html, truncated = html[:limit], True
            text = html_to_text(html)
        texts.append(clean_body(text).strip("\n"))
    joined = "\n\n".join(t for t in texts if t)
    capped, cut = cap_utf8(joined.rstrip(), max_bytes)
    return capped, truncated or cut


def part_text(part: Message, defects: list[str]) -> str:
    """Decode one leaf part's payload (transfer encoding, then charset) to text."""
    data = payload_bytes(part)
    try:
        charset = part.get_content_charset()
    except Exception:  # malformed RFC 2231 parameters
        charset = None
    return decode_bytes(data, charset, defects)


def payload_bytes(part: Message) -> bytes:
    """Return a leaf part's payload with its transfer encoding undone (leniently)."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        return b""
    return data if isinstance(data, bytes) else b""


_BASE64_SPACE = (" ", "\t", "\r", "\n", "=")


def payload_size(part: Message) -> int:
    """The decoded size of a leaf part's payload, without decoding base64 or 8-bit payloads.

    Attachments are what makes mail large; decoding one only to measure it held several
    copies of it at once (the email package splits the text into lines before decoding).
    """
    payload = part.get_payload()
    if not isinstance(payload, str):
        return len(payload_bytes(part))
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding == "base64" and payload.isascii():
        # Every 4 alphabet characters are 3 bytes; whitespace and padding carry none.
        return (len(payload) - sum(payload.count(c) for c in _BASE64_SPACE)) * 3 // 4
    if encoding in ("", "7bit", "8bit", "binary"):
        return len(payload)  # one character per byte (8-bit bytes are surrogate-escaped)
    return len(payload_bytes(part))


def attachments(
    parts: list[Message], body: list[tuple[Message, str]], defects: list[str], linesep: str
) -> tuple[Attachment, ...]:
    """List metadata for every attachment, inline image and embedded message outside the body.

    An embedded message's size is that of its re-serialisation with the outer line endings.
    """
    chosen = {id(part) for part, _ in body}
    found: list[Attachment] = []
    for part in parts:
        if id(part) in chosen:
            continue
        ctype = part.get_content_type()
        maintype = ctype.partition("/")[0]
        if ctype in _EMBEDDED_MESSAGES:
            found.append(Attachment(_filename(part, defects), ctype, _embedded_size(part, linesep)))
        elif part.is_multipart() or maintype in ("multipart", "message"):
            continue
        elif maintype == "image" or is_attachment(part):
            found.append(Attachment(_filename(part, defects), ctype, payload_size(part)))
    return tuple(found)


def _filename(part: Message, defects: list[str]) -> str | None:
    value = _filename_param(part)
    if value is None:
        return None
    if isinstance(value, tuple):  # RFC 2231: (charset, language, percent-decoded latin-1 text)
        charset, _, text = value
        try:
            data = text.encode("latin-1", "surrogateescape")
        except UnicodeEncodeError:
            data = text.encode("utf-8", "replace")
        name = decode_bytes(data, charset, defects)
    else:
        name = decode_words(restore_8bit(value), defects)
    return clean_header(name)[:MAX_FILENAME_CHARS] or None


def _embedded_size(part: Message, linesep: str) -> int:
    inner = part.get_payload()
    if isinstance(inner, list):
        policy = RAW_HEADERS.clone(linesep=linesep)
        try:
            return sum(len(m.as_bytes(policy=policy)) for m in inner if isinstance(m, Message))
        except Exception:  # re-serialising hostile content may fail; the size is cosmetic
            return 0
    return len(payload_bytes(part))
