"""Raw bytes to a MIME tree that survives hostile input: parse, repair boundaries, walk."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message
from email.parser import BytesFeedParser, BytesParser, Parser
from email.policy import Compat32

MAX_DEPTH = 50
_FEED_CHUNK = 1 << 16
# A line that opens a MIME part: "--" and a token with at least one character besides "-",
# so that rules of dashes and "-----Original Message-----" do not count.
_BOUNDARY_LINE = re.compile(r'^--((?=[^\s"]*[^\s"-])[^\s"]{1,200})[ \t]*\r?$', re.MULTILINE)


class _RawHeaders(Compat32):
    """compat32 that hands header values back untouched (8-bit bytes surrogate-escaped).

    compat32 tolerates more broken structure than the modern policy, and raw values let us
    decode undeclared 8-bit headers and RFC 2047 words ourselves, leniently.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


RAW_HEADERS = _RawHeaders()


def parse_tree(data: bytes, defects: list[str]) -> tuple[Message, bool]:
    """Parse `data`; on failure fall back to its headers. The flag says the body tree is usable."""
    try:
        return _feed(data), True
    except Exception as exc:  # RecursionError on absurd nesting, MemoryError, parser bugs
        defects.append(f"MIME structure unreadable ({type(exc).__name__}); headers only")
    return BytesParser(policy=RAW_HEADERS).parsebytes(data, headersonly=True), False


def _feed(data: bytes) -> Message:
    # Fed in chunks so the parser never holds a second full-size copy of a huge message.
    parser = BytesFeedParser(policy=RAW_HEADERS)
    view = memoryview(data)
    for start in range(0, len(data), _FEED_CHUNK):
        parser.feed(bytes(view[start : start + _FEED_CHUNK]))
    return parser.close()


def walk(root: Message, defects: list[str]) -> Iterator[Message]:
    """Yield every part in document order, at most MAX_DEPTH deep, not entering embedded mail."""
    stack: list[tuple[Message, int]] = [(root, 0)]
    warned = False
    while stack:
        part, depth = stack.pop()
        yield part
        if not part.is_multipart() or part.get_content_maintype() == "message":
            continue
        if depth >= MAX_DEPTH:
            if not warned:
                defects.append(f"MIME nesting deeper than {MAX_DEPTH} levels; deeper parts ignored")
                warned = True
            continue
        children = part.get_payload()
        if isinstance(children, list):
            stack.extend(
                (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
            )


def repair_multiparts(parts: list[Message], defects: list[str]) -> bool:
    """Re-split multiparts whose declared boundary is missing or wrong; return True if any."""
    repaired = False
    for part in parts:
        if part.is_multipart() or "multipart" not in str(part.get("content-type", "")).lower():
            continue
        if part.get_content_maintype() != "multipart":
            continue
        payload = part.get_payload()
        if not isinstance(payload, str):
            continue
        found = _BOUNDARY_LINE.search(payload)
        children = _split(part.get_content_type(), found.group(1), payload) if found else None
        if children:
            part.set_payload(children)
            defects.append("multipart boundary did not match; re-split on the one used")
            repaired = True
        else:
            # Nothing to split on: read it as text rather than lose it.
            charset = part.get_param("charset")
            del part["content-type"]
            part["Content-Type"] = (
                f"text/plain; charset={charset}" if isinstance(charset, str) else "text/plain"
            )
            defects.append("multipart without usable boundary read as text")
    return repaired


def _split(ctype: str, boundary: str, payload: str) -> list[Message | str] | None:
    try:
        sub = Parser(policy=RAW_HEADERS).parsestr(
            f'Content-Type: {ctype}; boundary="{boundary}"\n\n{payload}'
        )
    except Exception:
        return None
    children = sub.get_payload()
    if not sub.is_multipart() or not isinstance(children, list) or not children:
        return None
    return [child for child in children if isinstance(child, Message)] or None
