"""Phone numbers in E.164, via the phonenumbers library (default region Denmark)."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "DK"


def has_extension(raw: str, region: str = DEFAULT_REGION) -> bool:
    """`raw` reads as a number with an extension ("22 34 56 78 ext 5"), which E.164 drops."""
    try:
        return bool(phonenumbers.parse(raw, region).extension)
    except phonenumbers.NumberParseException:
        return False


def to_e164(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """Return `raw` as E.164 (`+4512345678`), or None when it is not a valid number."""
    if raw is None or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    # Possible (right length for the region) rather than valid: lead forms carry invented-looking
    # but real-length numbers, and dropping a customer's phone loses more than keeping it.
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
