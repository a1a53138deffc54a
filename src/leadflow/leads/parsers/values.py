"""Pure value parsers for lead fields: email, phone, Danish address, numbers and dates."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time
from typing import TypeVar
from zoneinfo import ZoneInfo

from leadflow.calendar_bounds import within
from leadflow.phones import has_extension, to_e164

LOCAL_TZ = ZoneInfo("Europe/Copenhagen")

T = TypeVar("T")

AddressFilter = Callable[[str], bool]
"""Returns True for an address that can never be a customer's (platform, aggregator, own domain)."""

# Bounded repeats keep the scan linear on long runs of address-like text.
_EMAIL = re.compile(r"[\w.%+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.[^\W\d_]{2,24}(?![\w-])")
_PHONE_RUN = re.compile(r"(?:\+|00)?\d[\d ().-]{5,20}\d")
_POSTAL_CITY = re.compile(
    r"(?:^|[,\s])(?:DK\s*-?\s*)?(?P<postal>[1-9]\d{3})\s+(?P<city>[^\W\d_][^,\n]{0,80}?)"
    r"\s*(?:,\s*(?:Danmark|Denmark|DK)\s*)?\.?$",
    re.IGNORECASE,
)
_AREA_UNITS = re.compile(r"m\s*2|m²|m\^2|kvm\.?|kvadratmeter|m\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# As _NUMBER, with a sign written before it: a negative size or count is no size or count.
_SIGNED_NUMBER = re.compile(r"(?<![\d.,])[-−–]?\s?\d+(?:[.,]\d+)*")
_THOUSANDS = re.compile(r"\d{1,3}(?:\.\d{3})+")
_DMY = re.compile(r"(?<!\d)(\d{1,2})\s?[-./]\s?(\d{1,2})\s?[-./]\s?(\d{4})(?!\d)")
_YMD = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_MONTH_NAMES = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "maj": 5,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "okt": 10,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_D_MONTH_Y = re.compile(r"(?<!\d)(\d{1,2})\.?\s+([^\W\d_]{3,10})\.?\s+(\d{4})(?!\d)")
_TIME = re.compile(r"^\s*(?:kl\.?|klokken|,|T|at)?\s*(\d{1,2})[:.](\d{2})(?::(\d{2}))?(?!\d)")


def find_email(value: str | None, excluded: AddressFilter) -> str | None:
    """Return the first address in `value` that may be a customer's, lower-cased."""
    if not value:
        return None
    for match in _EMAIL.finditer(value):
        address = match.group().strip(".'-").lower()
        if "@" in address and len(address) <= 320 and not excluded(address):
            return address
    return None


def _e164(raw: str) -> str | None:
    try:
        return to_e164(raw[:60])
    except Exception:  # arbitrary mail text must never break a lead
        return None


def _has_extension(raw: str) -> bool:
    try:
        return has_extension(raw[:60])
    except Exception:  # arbitrary mail text must never break a lead
        return False


def find_phone(value: str | None) -> str | None:
    """Return the phone number written in `value` as E.164, or None."""
    if not value or not any(ch.isdigit() for ch in value):
        return None
    if not _EMAIL.search(value):
        if _has_extension(value):  # E.164 has no room for it: the answer stays in the text
            return None
        whole = _e164(value)
        if whole is not None:
            return whole
    for match in _PHONE_RUN.finditer(value):
        number = _e164(match.group())
        if number is not None:
            return number
    return None


def split_address(value: str | None) -> tuple[str | None, str | None, str | None]:
    """Split "Somevej 12, 8000 Aarhus C" into (street, postal code, city); unknown parts None."""
    if not value:
        return None, None, None
    text = " ".join(value.split())
    match = _POSTAL_CITY.search(text)
    if match is None:
        return text.strip(" ,") or None, None, None
    street = text[: match.start()].strip(" ,") or None
    city = match.group("city").strip(" ,.") or None
    return street, match.group("postal"), city


def has_postal_code(value: str) -> bool:
    """Return True when `value` ends in a Danish postal code and city."""
    return _POSTAL_CITY.search(" ".join(value.split())) is not None


def _to_float(token: str) -> float | None:
    if len(token) > 15:
        return None
    if "." in token and "," in token:
        token = token.replace(".", "").replace(",", ".")
    elif _THOUSANDS.fullmatch(token):
        token = token.replace(".", "")
    else:
        token = token.replace(",", ".")
    try:
        number = float(token)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_area(value: str | None) -> float | None:
    """Return square metres from "98", "120 m2", "120 m²" or "ca. 85,5 kvm"; ranges give None."""
    if not value:
        return None
    numbers = _SIGNED_NUMBER.findall(_AREA_UNITS.sub(" ", value))
    if len(numbers) != 1 or not numbers[0][0].isdigit():
        return None
    number = _to_float(numbers[0])
    if number is None or not 0 < number < 1_000_000:
        return None
    return number


def parse_count(value: str | None) -> int | None:
    """Return a whole count from "3" or "3 værelser"; fractions, ranges and text give None."""
    if not value:
        return None
    numbers = _SIGNED_NUMBER.findall(value)
    if len(numbers) != 1 or not numbers[0].isdigit() or len(numbers[0]) > 4:
        return None
    return int(numbers[0])


def _safe_date(year: int, month: int, day: int) -> date | None:
    """The date, when it is one and lies in the years leadflow keeps (`calendar_bounds`)."""
    try:
        found = date(year, month, day)
    except ValueError:
        return None
    return found if within(found) else None


def _find_date(value: str) -> tuple[date, int] | None:
    """Return the first valid date in `value` and the index just after it."""
    found: list[tuple[int, date, int]] = []
    for match in _DMY.finditer(value):
        day, month, year = (int(g) for g in match.groups())
        parsed = _safe_date(year, month, day)
        if parsed is not None:
            found.append((match.start(), parsed, match.end()))
            break
    for match in _YMD.finditer(value):
        year, month, day = (int(g) for g in match.groups())
        parsed = _safe_date(year, month, day)
        if parsed is not None:
            found.append((match.start(), parsed, match.end()))
            break
    for match in _D_MONTH_Y.finditer(value):
        month_no = _MONTH_NAMES.get(match.group(2)[:3].lower())
        if month_no is None:
            continue
        parsed = _safe_date(int(match.group(3)), month_no, int(match.group(1)))
        if parsed is not None:
            found.append((match.start(), parsed, match.end()))
            break
    if not found:
        return None
    _, first, end = min(found, key=lambda item: item[0])
    return first, end


def parse_date(value: str | None) -> date | None:
    """Return the date in "15-11-2025", "15.11.2025", "2025-11-15" or "15. november 2025"."""
    if not value:
        return None
    found = _find_date(value)
    return found[0] if found else None


def parse_local_datetime(value: str | None, tz: ZoneInfo = LOCAL_TZ) -> datetime | None:
    """Return "9-10-2025 kl. 20:31" (local wall time in `tz`) as an aware UTC datetime."""
    if not value:
        return None
    found = _find_date(value)
    if found is None:
        return None
    day, end = found
    match = _TIME.match(value[end:])
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    second = int(match.group(3)) if match.group(3) else 0
    if hour > 23 or minute > 59 or second > 59:
        return None
    local = datetime.combine(day, time(hour, minute, second), tzinfo=tz)
    return local.astimezone(UTC)


def first_of(values: Iterable[str], parse: Callable[[str], T | None]) -> T | None:
    """Return the first value that `parse` accepts."""
    for value in values:
        parsed = parse(value)
        if parsed is not None:
            return parsed
    return None
