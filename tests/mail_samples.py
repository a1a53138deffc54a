"""Build raw RFC 822 test messages in code (invented people and domains only).

A *part* is bytes holding its own MIME headers, a blank line and its body; a message is the
top-level headers followed by one part (whose headers join the top-level ones).
"""

from __future__ import annotations

import base64
import quopri
from collections.abc import Iterable, Sequence
from typing import Any

from leadflow.mail.message import ParsedMessage
from leadflow.mail.mime import parse_message

CRLF = b"\r\n"
Header = tuple[str, str | bytes]


def header_lines(headers: Iterable[Header]) -> bytes:
    """Serialise headers; bytes values go in verbatim (for undeclared 8-bit tests)."""
    out = b""
    for name, value in headers:
        raw = value if isinstance(value, bytes) else value.encode("utf-8")
        out += name.encode("ascii") + b": " + raw + CRLF
    return out


def message(headers: Iterable[Header], part: bytes = b"") -> bytes:
    """A whole message: top-level headers followed by a part (its headers, blank line, body)."""
    if not part:
        part = CRLF
    return header_lines(headers) + part


def text_part(
    text: str | bytes,
    *,
    subtype: str = "plain",
    charset: str | None = "utf-8",
    cte: str = "8bit",
    headers: Sequence[Header] = (),
) -> bytes:
    """A text/* part; `text` is encoded with `charset` unless given as bytes."""
    data = text.encode(charset or "ascii") if isinstance(text, str) else text
    ctype = f"text/{subtype}" + (f"; charset={charset}" if charset else "")
    return leaf(ctype, data, cte=cte, headers=headers)


def leaf(
    content_type: str, data: bytes, *, cte: str = "8bit", headers: Sequence[Header] = ()
) -> bytes:
    """A single-part body with its transfer encoding applied to `data`."""
    if cte == "base64":
        body = base64.encodebytes(data).replace(b"\n", CRLF)
    elif cte == "quoted-printable":
        body = quopri.encodestring(data).replace(b"\n", CRLF)
    else:
        body = data
    all_headers = [("Content-Type", content_type), ("Content-Transfer-Encoding", cte), *headers]
    return header_lines(all_headers) + CRLF + body


def attachment(
    filename: str | None,
    data: bytes,
    *,
    mime_type: str = "application/pdf",
    disposition: str = "attachment",
    extra: Sequence[Header] = (),
) -> bytes:
    """A base64 attachment part; `filename` goes into Content-Disposition verbatim."""
    value = disposition + (f'; filename="{filename}"' if filename is not None else "")
    return leaf(mime_type, data, cte="base64", headers=[("Content-Disposition", value), *extra])


def multipart(subtype: str, parts: Sequence[bytes], *, boundary: str | None = None) -> bytes:
    """A multipart/<subtype> part containing `parts`."""
    mark = boundary or f"=_leadflow_{subtype}_{len(parts)}_{sum(map(len, parts))}"
    body = b"".join(b"--" + mark.encode() + CRLF + part + CRLF for part in parts)
    body += b"--" + mark.encode() + b"--" + CRLF
    head = header_lines([("Content-Type", f'multipart/{subtype}; boundary="{mark}"')])
    return head + CRLF + body


def nested(depth: int, inner: bytes) -> bytes:
    """`inner` wrapped in `depth` levels of multipart/mixed, each with its own boundary."""
    part = inner
    for level in range(depth):
        part = multipart("mixed", [part], boundary=f"level-{level}")
    return part


def embedded(raw: bytes) -> bytes:
    """A message/rfc822 part carrying the message `raw` (a forwarded email)."""
    return header_lines([("Content-Type", "message/rfc822")]) + CRLF + raw


def parse(raw: bytes, **kwargs: Any) -> ParsedMessage:
    """parse_message with fixed Gmail ids, for tests that only care about the content."""
    return parse_message(raw, gmail_message_id="msg-1", gmail_thread_id="thr-1", **kwargs)


BASIC_HEADERS: list[Header] = [
    ("From", "Anna Kundesen <anna@kunde-eksempel.dk>"),
    ("To", "info@rendetalje.dk"),
    ("Subject", "Tilbud"),
    ("Date", "Mon, 03 Mar 2025 10:00:00 +0100"),
    ("Message-ID", "<lead-1@kunde-eksempel.dk>"),
    ("MIME-Version", "1.0"),
]
