"""Lead parser building blocks: the input and output data and tolerant label-value extraction."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from leadflow.leads.parsers.values import (
    AddressFilter,
    find_email,
    find_phone,
    first_of,
    has_postal_code,
    parse_area,
    parse_count,
    parse_date,
    parse_local_datetime,
    split_address,
)
from leadflow.mail.message import ParsedMessage

PLATFORM_DOMAINS: tuple[str, ...] = ("leadmail.no", "leadpoint.dk", "adhelp.dk")
"""Lead platforms and aggregators: no address at these domains (or below) is ever a customer's."""


def domain_of(address: str) -> str:
    """Return the lower-cased domain of an address ('' when there is none)."""
    return address.rpartition("@")[2].strip().lower() if "@" in address else ""


def in_domains(address: str, domains: Sequence[str]) -> bool:
    """Return True when the address is at one of `domains` or a subdomain of one."""
    domain = domain_of(address)
    return bool(domain) and any(domain == d or domain.endswith("." + d) for d in domains)


def on_platform_domain(address: str) -> bool:
    """Default address filter: True for addresses at a known lead platform or aggregator."""
    return in_domains(address, PLATFORM_DOMAINS)


@dataclass(frozen=True, slots=True)
class LeadEmail:
    """What a lead parser reads of one email. Addresses are lower-case; the body is plain text."""

    from_address: str
    from_name: str = ""
    reply_to: tuple[str, ...] = ()
    subject: str = ""
    body_text: str = ""
    sent_at: datetime | None = None

    @classmethod
    def from_parsed(cls, msg: ParsedMessage) -> LeadEmail:
        """Build the parser input from a stored message."""
        sender = msg.from_address
        return cls(
            from_address=sender.email.strip().lower() if sender else "",
            from_name=sender.name if sender else "",
            reply_to=tuple(a.email.strip().lower() for a in msg.reply_to if a.email),
            subject=msg.subject or "",
            body_text=msg.body_text or "",
            sent_at=msg.sent_at,
        )


@dataclass(frozen=True, slots=True)
class ParsedLead:
    """One lead as read from its email. Missing fields are None; `needs_review` is derived."""

    source: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    postal_code: str | None = None
    city: str | None = None
    square_meters: float | None = None
    rooms: int | None = None
    floor: str | None = None
    property_type: str | None = None
    task_type: str | None = None
    contact_type: str | None = None
    preferred_date: date | None = None
    message: str | None = None
    received_at: datetime | None = None
    needs_review: bool = field(init=False)

    def __post_init__(self) -> None:
        # Derived, so a lead without any way to reach the customer can never be marked as fine.
        object.__setattr__(self, "needs_review", self.email is None and self.phone is None)


_REPLY_PREFIX = re.compile(
    r"^(?:\s*(?:re|fwd?|vs|sv|aw|tr|wg)\s*(?:\[\d{1,3}\]|\(\d{1,3}\))?\s*:)+\s*", re.IGNORECASE
)
_NEWLINES = re.compile(r"\r\n|\r|\u2028|\u2029|\x85")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u200b-\u200d\ufeff]")
_QUOTE = re.compile(r"^(?:\s*>)+")
_FOOTER = re.compile(
    r"^(?:--\s*|_{3,}|-{3,}|={3,}|denne (?:e-?)?mail er (?:sendt|genereret|automatisk)\b.*)$",
    re.IGNORECASE,
)
_POSTAL_LINE = re.compile(r"^(?:DK\s*-?\s*)?[1-9]\d{3}\s+[^\W\d_]", re.IGNORECASE)
MULTILINE_KEYS = frozenset({"message"})


def strip_reply_prefixes(subject: str) -> str:
    """Return the subject without "Re:", "Fwd:", "VS:", "SV:" (repeated) prefixes."""
    return _REPLY_PREFIX.sub("", subject).strip()


def normalise_lines(text: str) -> list[str]:
    """Split text into lines with CRLF, tabs, odd spaces and "> " quote markers smoothed away."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    return [
        _SPACES.sub(" ", _QUOTE.sub("", line)).strip()
        for line in _NEWLINES.sub("\n", text).split("\n")
    ]


def _fold(label: str) -> str:
    return " ".join(label.lower().split())


@dataclass(frozen=True, slots=True)
class Fields:
    """Label hits of one body: (key, value, written with a colon), in body order."""

    hits: tuple[tuple[str, str, bool], ...]

    def values(self, key: str) -> list[str]:
        """Return the non-empty values for `key`, colon-labelled ones first."""
        colon = [v for k, v, c in self.hits if k == key and c and v]
        return colon + [v for k, v, c in self.hits if k == key and not c and v]

    def first(self, key: str) -> str | None:
        """Return the preferred value for `key`, or None."""
        found = self.values(key)
        return found[0] if found else None

    def keys(self) -> set[str]:
        """Return the keys that have a non-empty value."""
        return {k for k, v, _ in self.hits if v}


class LabelMatcher:
    """Finds "Label: value" lines, tolerant to case, spacing, a missing colon and blank lines."""

    def __init__(self, spec: Mapping[str, Sequence[str]]) -> None:
        self._key_by_label = {_fold(label): key for key, labels in spec.items() for label in labels}
        labels = sorted(self._key_by_label, key=len, reverse=True)
        alternation = "|".join(r"\s+".join(re.escape(w) for w in label.split()) for label in labels)
        self._line = re.compile(
            rf"^(?:[-*•·]\s*)?(?P<label>{alternation})(?:\s*\([^()]{{0,40}}\))?\s*\??"
            r"(?:\s*(?P<colon>:)|(?=\s|$))\s*(?P<value>.*)$",
            re.IGNORECASE,
        )

    def _label(self, line: str) -> tuple[str, str, bool] | None:
        match = self._line.match(line)
        if match is None:
            return None
        key = self._key_by_label.get(_fold(match.group("label")))
        if key is None:
            return None
        value = match.group("value").lstrip(": ").strip()
        return key, value, match.group("colon") is not None

    def extract(self, text: str) -> Fields:
        """Return every labelled value in `text`."""
        lines = normalise_lines(text)
        labelled = [self._label(line) for line in lines]
        hits: list[tuple[str, str, bool]] = []
        i = 0
        while i < len(lines):
            found = labelled[i]
            i += 1
            if found is None:
                continue
            key, value, colon = found
            if key in MULTILINE_KEYS:
                parts = [value]
                # A colon label's text runs until the next colon label: a customer may well begin
                # a sentence with a word that is also a bare label ("Adresse er ...").
                while i < len(lines) and not _FOOTER.match(lines[i]):
                    nxt = labelled[i]
                    if nxt is not None and (nxt[2] or not colon):
                        break
                    parts.append(lines[i])
                    i += 1
                value = re.sub(r"\n{3,}", "\n\n", "\n".join(parts)).strip()
            else:
                if not value:
                    j = _next_text_line(lines, i)
                    if j is not None and labelled[j] is None and not _FOOTER.match(lines[j]):
                        value, i = lines[j], j + 1
                if key == "address" and value and not has_postal_code(value):
                    j = _next_text_line(lines, i)
                    if j is not None and labelled[j] is None and _POSTAL_LINE.match(lines[j]):
                        value, i = f"{value}, {lines[j]}", j + 1
            hits.append((key, value, colon))
        return Fields(tuple(hits))


def _next_text_line(lines: list[str], start: int) -> int | None:
    """Return the index of the next non-blank line, skipping at most two blank lines."""
    for j in range(start, min(start + 3, len(lines))):
        if lines[j]:
            return j
    return None


COMMON_LABELS: dict[str, tuple[str, ...]] = {
    "name": ("Navn", "Fulde navn", "Kundens navn", "Kontaktperson", "Name"),
    "email": ("Email", "E-mail", "E-mailadresse", "Emailadresse", "Mail", "Kundens e-mail"),
    "phone": (
        "Telefon",
        "Telefonnummer",
        "Tlf.",
        "Tlf",
        "Tlf. nr.",
        "Tlf.nr.",
        "Mobil",
        "Mobilnummer",
        "Phone",
    ),
    "address": ("Adresse", "Kundens adresse", "Opgavens adresse", "Address"),
    "postal_city": ("Postnr. og by", "Postnr./by", "Postnummer og by", "Postnr. & by"),
    "postal_code": ("Postnr.", "Postnr", "Postnummer"),
    "city": ("By",),
    "square_meters": ("Størrelse", "Areal", "Boligens størrelse", "Antal m2", "Kvadratmeter"),
    "rooms": ("Antal værelser", "Værelser"),
    "floor": ("Etage",),
    "property_type": ("Boligtype", "Type bolig", "Ejendomstype"),
    "task_type": ("Opgave", "Opgavetype", "Type opgave", "Ydelse", "Behov"),
    "contact_type": ("Type kontakt", "Kundetype"),
    "preferred_date": ("Ønsket dato", "Ønsket startdato", "Ønsket opstartsdato", "Startdato"),
    "message": ("Besked", "Beskrivelse", "Kommentar", "Bemærkninger", "Yderligere oplysninger"),
    "received_at": ("Modtaget",),
}
CONTACT_KEYS = frozenset({"name", "email", "phone", "address"})
JOB_KEYS = frozenset(
    {"task_type", "property_type", "square_meters", "preferred_date", "message", "contact_type"}
)
LEAD_SUBJECT = re.compile(
    r"\b(?:nyt?|new)\s+(?:lead|opgave|forespørgsel|henvendelse|kundehenvendelse|"
    r"tilbudsforespørgsel|booking)(?![\w-])",
    re.IGNORECASE,
)


def merge_labels(*specs: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Return one label spec with the spellings of every spec, per key."""
    merged: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        for key, labels in spec.items():
            merged[key] = (*merged.get(key, ()), *labels)
    return merged


@dataclass(frozen=True)
class SourceFormat:
    """How one platform writes its lead mail: display name, labels and a typical subject."""

    display_name: str
    labels: Mapping[str, Sequence[str]]
    subject: re.Pattern[str] = LEAD_SUBJECT
    matcher: LabelMatcher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "matcher", LabelMatcher(self.labels))

    def looks_like_lead(self, email: LeadEmail) -> bool:
        """Return True when the subject or the body has the shape of this platform's lead mail."""
        keys = self.matcher.extract(email.body_text).keys()
        if self.subject.search(strip_reply_prefixes(email.subject)) and len(keys) >= 2:
            return True
        return len(keys & CONTACT_KEYS) >= 2 and bool(keys & JOB_KEYS)

    def parse(self, email: LeadEmail, excluded: AddressFilter = on_platform_domain) -> ParsedLead:
        """Read every field this format knows from `email`; never raises on odd text."""
        fields = self.matcher.extract(email.body_text)
        customer_email = first_of(fields.values("email"), lambda v: find_email(v, excluded))
        if customer_email is None:
            # Platforms set Reply-To to the customer; the filter keeps the platform itself out.
            customer_email = first_of(email.reply_to, lambda v: find_email(v, excluded))
        street, postal, city = split_address(fields.first("address"))
        if postal is None:
            _, postal, city = split_address(fields.first("postal_city"))
        if postal is None:
            postal = _postal_code(fields.first("postal_code"))
            city = _clip(fields.first("city"), 100)
        received = first_of(fields.values("received_at"), parse_local_datetime)
        if received is None and email.sent_at is not None:
            sent = email.sent_at
            received = (sent if sent.tzinfo else sent.replace(tzinfo=UTC)).astimezone(UTC)
        return ParsedLead(
            source=self.display_name,
            name=_clip(fields.first("name"), 200),
            email=customer_email,
            phone=first_of(fields.values("phone"), find_phone),
            address=_clip(street, 300),
            postal_code=postal,
            city=_clip(city, 100),
            square_meters=first_of(fields.values("square_meters"), parse_area),
            rooms=first_of(fields.values("rooms"), parse_count),
            floor=_clip(fields.first("floor"), 50),
            property_type=_clip(fields.first("property_type"), 100),
            task_type=_clip(fields.first("task_type"), 100),
            contact_type=_clip(fields.first("contact_type"), 50),
            preferred_date=first_of(fields.values("preferred_date"), parse_date),
            message=fields.first("message"),
            received_at=received,
        )


def _postal_code(value: str | None) -> str | None:
    match = re.search(r"(?<!\d)[1-9]\d{3}(?!\d)", value or "")
    return match.group() if match else None


def _clip(value: str | None, limit: int) -> str | None:
    """Return the value trimmed to the column's length, or None when empty."""
    if value is None:
        return None
    value = " ".join(value.split())
    return value[:limit].rstrip() or None
