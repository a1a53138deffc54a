"""Bytes and header words to clean text whatever the charset claims (pure; never raises)."""

from __future__ import annotations

import base64
import binascii
import codecs
import re

# Charsets that decode any byte string "successfully", so a UTF-8 body that lies about being
# Latin-1 would silently turn into mojibake; for these, valid UTF-8 wins.
_WESTERN = frozenset({"ascii", "iso8859-1", "iso8859-15", "cp1252"})
# Labels seen in real mail that Python's codec registry does not know, or knows as something
# that is not a mail charset.
_ALIASES: dict[str, str | None] = {
    "unknown-8bit": None,
    "x-unknown": None,
    "unknown": None,
    "default": None,
    "x-user-defined": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
}
# Python codecs that are not mail charsets; a message naming them is lying or hostile.
_NOT_CHARSETS = frozenset(
    {"unicode_escape", "raw_unicode_escape", "punycode", "idna", "undefined", "palmos"}
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_HEADER_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?(.*?)(?:\?=|$)")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r?\n")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_DECODED_NON_ASCII = re.compile("[^\x00-\x7f\ufffd]")


def codec_name(charset: str | None) -> str | None:
    """Return Python's codec name for a MIME charset label, or None if absent or unknown."""
    if not charset:
        return None
    label = _label(charset)
    if label in _ALIASES:
        return _ALIASES[label]
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):
        return None
    # Bytes-to-bytes codecs such as "base64" are flagged the way bytes.decode checks them.
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return info.name


def _label(charset: str) -> str:
    return charset.strip().strip("\"'").lower()


def decode_bytes(data: bytes, charset: str | None, defects: list[str]) -> str:
    """Decode `data` with the declared charset, else UTF-8, else a sensible 8-bit fallback."""
    name = codec_name(charset)
    if charset and name is None and _label(charset) not in _ALIASES:
        defects.append(f"unknown charset {_short(charset)}")
    if name is not None:
        try:
            text = data.decode(name)
        except (UnicodeError, LookupError, ValueError, TypeError):
            defects.append(f"bytes do not match charset {_short(charset or '')}")
        else:
            if name in _WESTERN and not data.isascii():
                try:
                    utf8 = data.decode("utf-8")
                except UnicodeDecodeError:
                    return text
                defects.append(f"UTF-8 text declared as {_short(charset or '')}")
                return utf8
            return text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if name is not None and name not in _WESTERN and name != "utf-8":
        try:
            return data.decode(name, "replace")
        except (UnicodeError, LookupError, ValueError, TypeError):
            pass
    # Mostly UTF-8 with a stray bad byte keeps its UTF-8; otherwise it is 8-bit Western text.
    utf8 = data.decode("utf-8", "replace")
    if _DECODED_NON_ASCII.search(utf8):
        return utf8
    return data.decode("cp1252", "replace")


def restore_8bit(value: str) -> str:
    """Unfold a raw header and turn its undeclared 8-bit bytes (surrogate-escaped) into text."""
    value = _FOLD.sub("", value)
    if value.isascii():
        return value
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # already real text (a str header set by code, not by the parser)
        return value
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def decode_words(text: str, defects: list[str]) -> str:
    """Decode RFC 2047 encoded-words leniently: any position, lower-case q/b, missing `?=`."""
    if "=?" not in text:
        return text
    out: list[str] = []
    pending: list[tuple[str | None, bytearray]] = []  # adjacent words, merged per charset
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        if between and not (pending and between.isspace()):
            _flush(pending, out, defects)
            out.append(between)
        charset, encoding, payload = match.groups()
        if not match.group(0).endswith("?="):
            defects.append("encoded-word without closing ?=")
        data = _decode_b(payload) if encoding in "bB" else _decode_q(payload)
        label = charset.split("*", 1)[0].lower() or None
        if pending and pending[-1][0] == label:
            # A multi-byte character may be split across two words; join the bytes first.
            pending[-1][1].extend(data)
        else:
            pending.append((label, bytearray(data)))
        pos = match.end()
    _flush(pending, out, defects)
    out.append(text[pos:])
    return "".join(out)


def _flush(pending: list[tuple[str | None, bytearray]], out: list[str], defects: list[str]) -> None:
    for label, data in pending:
        out.append(decode_bytes(bytes(data), label, defects))
    pending.clear()


def _decode_b(payload: str) -> bytes:
    data = _NOT_BASE64.sub(b"", payload.encode("utf-8", "replace").split(b"=", 1)[0])
    if len(data) % 4 == 1:
        data = data[:-1]
    try:
        return base64.b64decode(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return b""


def _decode_q(payload: str) -> bytes:
    data = payload.replace("_", " ").encode("utf-8", "replace")
    return _QP_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def clean_header(text: str) -> str:
    """Header text for storage: no control characters, whitespace collapsed, valid UTF-8."""
    text = " ".join(_HEADER_CONTROL.sub(" ", text).split())
    return _valid_utf8(text)


def clean_body(text: str) -> str:
    """Body text for storage: LF newlines, no NUL/control characters PostgreSQL or UIs reject."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def cap_utf8(text: str, max_bytes: int) -> tuple[str, bool]:
    """Cut `text` to at most `max_bytes` UTF-8 bytes on a character boundary; report if cut."""
    limit = max(0, max_bytes)
    # Every character is at least one byte: a longer string cannot fit, so bound the work.
    head = text[: limit + 1]
    encoded = head.encode("utf-8", "replace")
    if len(encoded) <= limit and len(head) == len(text):
        return _valid_utf8(text), False
    return encoded[:limit].decode("utf-8", "ignore"), True


def _valid_utf8(text: str) -> str:
    # Lone surrogates (from utf-7 or similar) cannot be stored or sent as JSON.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _short(value: str) -> str:
    return repr(value[:60])
