"""Does a value have the shape of its field? Decides where a customer's free text ends.

A line such as "Adresse Kildeløkken 83, 8230 Åbyhøj" after a free-text answer starts the contact
block; "Adresse er nem at finde" is the customer still writing. The label word is the same, the
value tells them apart: an email for Email, a phone for Telefon, a street and number or a postal
line for Adresse, two or more name words for Navn, a short answer for the platform's questions.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from leadflow.leads.parsers.values import (
    find_phone,
    parse_area,
    parse_count,
    parse_local_datetime,
)

# Words that continue a sentence ("Adresse er ...", "Navn på dørskiltet ...", "Telefon til
# min mand ..."). A field's value does not start with one of them written in lower case.
SENTENCE_WORDS = frozenset(
    {
        "af", "alle", "altid", "bare", "bedst", "bliver", "blev", "burde", "da", "de", "del",
        "den", "der", "det", "du", "efter", "eller", "en", "er", "et", "for", "fordi", "fra",
        "gerne", "godt", "har", "hedder", "helst", "hende", "hos", "hun", "hvis", "i", "ikke",
        "ind", "inden", "jeg", "kan", "kun", "kunne", "ligger", "man", "med", "men", "mig",
        "mit", "min", "mine", "må", "nok", "når", "og", "om", "op", "os", "over", "på", "sammen",
        "sidder", "skal", "skulle", "som", "står", "så", "til", "under", "ud", "uden", "var",
        "ved", "vi", "vil", "ville", "vores", "være",
    }
)  # fmt: skip
_PRONOUNS = frozenset({"vi", "jeg", "du", "han", "hun", "man"})

_EMAIL_ONLY = re.compile(
    r"<?(?:mailto:)?[\w.%+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.[^\W\d_]{2,24}>?",
    re.IGNORECASE,
)
_PHONE_ONLY = re.compile(r"(?:\+|00|\(\+?\d{2,3}\))?[\d ().\-/]{6,24}(?:\s*\([^()]{1,20}\))?")
# "Kildeløkken 83", "Øster Allé 3B, 2. th.", "H.C. Andersens Boulevard 12": words, then a house
# number followed by the end, a comma, a space or a letter suffix.
_STREET = re.compile(r"^[^\W\d_][^\d,;:!?@]{0,60}?\s\d{1,4}\s?[A-Za-z]?(?=$|[,\s])")
_POSTAL_LINE = re.compile(r"^(?:DK\s*-?\s*)?[1-9]\d{3}\s+[^\W\d_]", re.IGNORECASE)
_NAME_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|[-'’.])*\.?")
_SENTENCE_END = re.compile(r"[.!?]$")


def first_word(value: str) -> str:
    """Return the first word of `value` ('' when there is none)."""
    words = value.split(maxsplit=1)
    return words[0].strip(",.:;!?") if words else ""


def starts_a_sentence(value: str) -> bool:
    """True when `value` reads as the rest of a sentence ("er nem at finde")."""
    word = first_word(value)
    if word.lower() in _PRONOUNS:
        return True
    return word in SENTENCE_WORDS


def is_email(value: str) -> bool:
    return _EMAIL_ONLY.fullmatch(value.strip()) is not None


def is_phone(value: str) -> bool:
    value = value.strip()
    return _PHONE_ONLY.fullmatch(value) is not None and find_phone(value) is not None


def is_address(value: str) -> bool:
    value = value.strip()
    if len(value) > 160 or starts_a_sentence(value):
        return False
    return _STREET.match(value) is not None or _POSTAL_LINE.match(value) is not None


def is_postal_line(value: str) -> bool:
    return _POSTAL_LINE.match(value.strip()) is not None


def is_name(value: str) -> bool:
    words = value.split()
    if not 2 <= len(words) <= 6 or starts_a_sentence(value):
        return False
    return all(_NAME_WORD.fullmatch(word) for word in words)


def is_short_answer(value: str, max_words: int = 6) -> bool:
    """A platform answer such as "Fleksibel" or "Villa/Parcelhus", not a customer's sentence."""
    value = value.strip()
    words = value.split()
    if not words or len(words) > max_words or len(value) > 80 or starts_a_sentence(value):
        return False
    if len(words) > 1 and value[0].islower():
        return False  # "hele huset skal gøres rent" continues a sentence
    return not (len(words) > 2 and _SENTENCE_END.search(value))


def _short(max_words: int) -> Callable[[str], bool]:
    return lambda value: is_short_answer(value, max_words)


SHAPES: dict[str, Callable[[str], bool]] = {
    "name": is_name,
    "email": is_email,
    "phone": is_phone,
    "address": is_address,
    "postal_city": is_postal_line,
    "postal_code": lambda v: re.fullmatch(r"\s*[1-9]\d{3}\s*", v) is not None,
    "city": _short(3),
    "square_meters": lambda v: len(v.split()) <= 4 and parse_area(v) is not None,
    "rooms": lambda v: len(v.split()) <= 3 and parse_count(v) is not None,
    "floor": _short(3),
    "property_type": _short(4),
    "task_type": _short(6),
    "contact_type": _short(2),
    "preferred_date": _short(6),
    "received_at": lambda v: parse_local_datetime(v) is not None,
    "detail": _short(6),
}


def fits(key: str, value: str) -> bool:
    """True when `value` has the shape of field `key` (unknown keys: never)."""
    shape = SHAPES.get(key)
    return bool(value.strip()) and shape is not None and shape(value)
