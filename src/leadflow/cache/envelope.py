"""Cache values as bytes: a format/version prefix, the expiry, the schema tag, then the payload.

Layout: `LFC` | format version (1 byte) | codec (1 byte) | expires at (float64, seconds since the
epoch, big-endian) | schema tag length (1 byte) | tags length (2 bytes) | schema tag (ASCII) |
tags (UTF-8, separated by 0x1f) | payload. The codec says what the payload was: `B` bytes (stored
as is: the API caches rendered JSON), `S` text (UTF-8), `J` any other JSON value. A reader that
does not know the magic or the format version, or expects another schema tag, gets `None` — a
miss — so a deploy that changes a response schema or this layout never reads old bytes. The
expiry and the tags travel with the value so that a process copying it into its memory tier
keeps it no longer than Redis does and drops it when one of its tags is invalidated.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

MAGIC = b"LFC"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">3sBcdBH")  # magic, format, codec, expires_at, schema and tags length
_TAG_SEPARATOR = "\x1f"

Raw = bytes | str


class UnsupportedValue(TypeError):
    """The value cannot be cached (not bytes, text or JSON-serialisable)."""


@dataclass(frozen=True, slots=True)
class Packed:
    """A value in its stored form: codec and payload (immutable, safe to share between readers)."""

    codec: bytes
    raw: Raw


def pack(value: object) -> Packed:
    """The stored form of `value`: bytes and text as they are, anything else as compact JSON."""
    if isinstance(value, bytes | bytearray | memoryview):
        return Packed(b"B", bytes(value))
    if isinstance(value, str):
        return Packed(b"S", value)
    try:
        return Packed(b"J", json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise UnsupportedValue(f"cannot cache a {type(value).__name__}: {exc}") from None


def unpack(packed: Packed) -> object:
    """The value back from its stored form (a fresh object for JSON values)."""
    if packed.codec == b"J":
        return json.loads(packed.raw)
    return packed.raw


@dataclass(frozen=True, slots=True)
class Decoded:
    packed: Packed
    expires_at: float
    schema: str
    tags: frozenset[str]


def encode(
    packed: Packed, *, expires_at: float, schema: str = "", tags: frozenset[str] = frozenset()
) -> bytes:
    """The bytes stored in Redis for `packed`."""
    schema_bytes = schema.encode("ascii")
    if any(_TAG_SEPARATOR in tag for tag in tags):
        raise ValueError("a tag may not contain the 0x1f separator")
    tag_bytes = _TAG_SEPARATOR.join(sorted(tags)).encode("utf-8")
    if len(schema_bytes) > 0xFF or len(tag_bytes) > 0xFFFF:
        raise ValueError("schema tag or tags too long for the envelope")
    payload = packed.raw.encode("utf-8") if isinstance(packed.raw, str) else packed.raw
    header = _HEADER.pack(
        MAGIC, FORMAT_VERSION, packed.codec, expires_at, len(schema_bytes), len(tag_bytes)
    )
    return header + schema_bytes + tag_bytes + payload


def decode(data: bytes, *, schema: str = "") -> Decoded | None:
    """The value in `data`, or None when it was written in another format or for another schema."""
    if len(data) < _HEADER.size or not data.startswith(MAGIC):
        return None
    _, version, codec, expires_at, schema_len, tags_len = _HEADER.unpack_from(data)
    if version != FORMAT_VERSION or codec not in (b"B", b"S", b"J"):
        return None
    tags_start = _HEADER.size + schema_len
    start = tags_start + tags_len
    if len(data) < start or data[_HEADER.size : tags_start] != schema.encode("ascii"):
        return None
    try:
        tag_text = data[tags_start:start].decode("utf-8")
        payload = data[start:]
        raw: Raw = payload if codec == b"B" else payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    tags = frozenset(tag_text.split(_TAG_SEPARATOR)) if tag_text else frozenset()
    return Decoded(Packed(codec, raw), expires_at, schema, tags)
