"""Address, date and message-id headers to plain values (pure; never raises)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime

from leadflow.mail.message import Address
from leadflow.mail.mime.charset import clean_header, decode_words

# Column sizes in email_messages: longer values would make PostgreSQL reject the whole row.
MAX_ADDRESS_CHARS = 320
MAX_NAME_CHARS = 300
MAX_MESSAGE_ID_CHARS = 998
# Dates outside this window are typos or forgeries that would sort a thread wrongly forever.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)

_ADDR_CHAR = r"[^\s@<>(),;:\"\[\]\\]"
_VALID_ADDRESS = re.compile(rf"{_ADDR_CHAR}+@{_ADDR_CHAR}+")
_LOOSE_ADDRESS = re.compile(rf"{_ADDR_CHAR}+@{_ADDR_CHAR}+\.{_ADDR_CHAR}+")
_BRACKETED_ID = re.compile(r"<([^<>]*)>")
_ID_TOKEN = re.compile(r"<([^<>]*)>|([^\s<>,]+)")


def parse_addresses(values: Iterable[str], field: str, defects: list[str]) -> tuple[Address, ...]:
    """Parse unfolded address header values into distinct Addresses, skipping invalid ones."""
    found: dict[str, Address] = {}
    for value in values:
        for address in _parse_one(value, field, defects):
            found.setdefault(address.email, address)
    return tuple(found.values())


def _parse_one(value: str, field: str, defects: list[str]) -> list[Address]:
    try:
        pairs = getaddresses([value])
    except Exception:  # the stdlib parser has had crash bugs on hostile input
        pairs = []
    result: list[Address] = []
    rejected = False
    for name, addr in pairs:
        email = addr.strip().strip("<>").strip().lower()
        if not email:
            rejected = rejected or bool(name.strip())
            continue
        if len(email) > MAX_ADDRESS_CHARS or not _VALID_ADDRESS.fullmatch(email):
            defects.append(f"{field}: invalid address {email[:60]!r}")
            continue
        display = clean_header(decode_words(name, defects))[:MAX_NAME_CHARS]
        result.append(Address(email=email, name=display))
    if not result and "@" in value:
        # Strict or confused parsing can discard a whole header; salvage bare addresses.
        loose = [m.lower() for m in _LOOSE_ADDRESS.findall(value) if len(m) <= MAX_ADDRESS_CHARS]
        if loose:
            defects.append(f"{field}: unparseable header, bare addresses salvaged")
            return [Address(email=email) for email in dict.fromkeys(loose)]
    if rejected:
        defects.append(f"{field}: entry without an address skipped")
    return result


# The year after the month in an RFC 5322 date ("1 Jan 0001 00:00"), as written.
_WRITTEN_YEAR = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d+)\b", re.IGNORECASE
)


def parse_date(value: str | None, defects: list[str]) -> datetime | None:
    """Return the Date header as an aware UTC datetime, or None if absent or implausible."""
    if value is None or not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except Exception:  # ValueError, TypeError, OverflowError on odd input
        parsed = None
    if parsed is None:
        defects.append(f"unparseable Date {value.strip()[:60]!r}")
        return None
    written = _WRITTEN_YEAR.search(value)
    if written and len(written.group(1)) >= 4 and int(written.group(1)) != parsed.year:
        # The library reads "0001" by the rule for two-digit years (as 2001).
        defects.append(f"implausible Date {value.strip()[:60]!r}")
        return None
    try:
        if parsed.tzinfo is None:  # "-0000" means UTC with unknown local zone
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        defects.append(f"Date out of range {value.strip()[:60]!r}")
        return None
    if not _EARLIEST <= parsed < _LATEST:
        defects.append(f"implausible Date {value.strip()[:60]!r}")
        return None
    return parsed


def as_utc(value: datetime | None) -> datetime | None:
    """Return `value` as aware UTC; a naive datetime is taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def normalise_message_id(value: str | None) -> str | None:
    """Return the first message id in `value` without angle brackets or whitespace, or None.

    Case is kept: mail clients copy ids verbatim into In-Reply-To/References, and the local part
    is case-sensitive, so an exact comparison is the safe one. A bracketed id wins; otherwise a
    bare token with an "@", otherwise the value itself if it is a single token. Ids are cut to
    998 characters, the column size (and RFC 5322's line limit).
    """
    if not value:
        return None
    text = str(value).strip()  # str(): callers may hand over an email.header.Header
    if not text:
        return None
    bracketed = _BRACKETED_ID.search(text)
    if bracketed is not None:
        return _clean_id(bracketed.group(1))
    tokens = text.split()
    for token in tokens:
        if "@" in token:
            return _clean_id(token)
    return _clean_id(tokens[0]) if len(tokens) == 1 else None


def parse_references(value: str | None) -> tuple[str, ...]:
    """Return the distinct ids of a References header in order; bare tokens count if they hold @."""
    if not value:
        return ()
    found: dict[str, None] = {}
    for match in _ID_TOKEN.finditer(str(value)):
        bracketed, bare = match.group(1), match.group(2)
        if bracketed is None and "@" not in bare:
            continue
        cleaned = _clean_id(bare if bracketed is None else bracketed)
        if cleaned:
            found.setdefault(cleaned, None)
    return tuple(found)


def _clean_id(raw: str) -> str | None:
    cleaned = "".join(raw.split()).strip("<>")
    cleaned = clean_header(cleaned)[:MAX_MESSAGE_ID_CHARS]
    return cleaned or None
