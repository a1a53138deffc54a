"""Lead parser building blocks: the input and output data, label sets and one format's parse."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from leadflow.leads.parsers.labels import DETAIL, Fields, Hit, LabelMatcher
from leadflow.leads.parsers.values import (
    AddressFilter,
    find_email,
    find_phone,
    first_of,
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
    """One lead as read from its email. Missing fields are None; `needs_review` is derived.

    `preferred_date_text` is the answer as written ("Fleksibel", "15-11-2025"), `preferred_date`
    the date when it holds one. `details` keeps labelled answers no field takes (a question the
    platform added, a phone written as "ring efter kl. 16"): label as written → value.
    """

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
    preferred_date_text: str | None = None
    message: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    received_at: datetime | None = None
    needs_review: bool = field(init=False)

    def __post_init__(self) -> None:
        # Derived, so a lead without any way to reach the customer can never be marked as fine.
        object.__setattr__(self, "needs_review", self.email is None and self.phone is None)


_REPLY_PREFIX = re.compile(
    r"^(?:\s*(?:re|fwd?|vs|sv|aw|tr|wg)\s*(?:\[\d{1,3}\]|\(\d{1,3}\))?\s*:)+\s*", re.IGNORECASE
)


def strip_reply_prefixes(subject: str) -> str:
    """Return the subject without "Re:", "Fwd:", "VS:", "SV:" (repeated) prefixes."""
    return _REPLY_PREFIX.sub("", subject).strip()


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


COMMON_HEADINGS: tuple[str, ...] = (
    "Kontaktoplysninger", "Kontaktinformation", "Kontaktinfo", "Kontaktdetaljer", "Kontakt",
    "Kunde", "Kunden", "Kundeoplysninger", "Kundeinformation", "Kundens oplysninger",
    "Kundedetaljer", "Spørgsmål", "Spørgsmål og svar", "Svar på spørgsmål", "Opgave", "Opgaven",
    "Om opgaven", "Opgaveoplysninger", "Opgavedetaljer", "Om boligen", "Boligoplysninger",
    "Leadoplysninger", "Detaljer",
)  # fmt: skip
"""Section headings: a customer's free-text answer never runs past one."""

# Bounds for odd mail (thousands of "x: y" lines); the whole body stays in the stored message.
MAX_DETAILS = 50
MAX_DETAIL_CHARS = 5_000


@dataclass(frozen=True)
class SourceFormat:
    """How one platform writes its lead mail: labels, section headings, how it signs off.

    `signers` are the names the platform signs with ("Med venlig hilsen" + "Rengøring.nu" is its
    footer, while a customer's "Mvh Æbbe" stays in their message).
    """

    display_name: str
    labels: Mapping[str, Sequence[str]]
    subject: re.Pattern[str] = LEAD_SUBJECT
    headings: Sequence[str] = COMMON_HEADINGS
    signers: Sequence[str] = ()
    matcher: LabelMatcher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        matcher = LabelMatcher(self.labels, headings=self.headings, signers=self.signers)
        object.__setattr__(self, "matcher", matcher)

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
        dates = fields.values("preferred_date")
        message = fields.first("message")
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
            preferred_date=first_of(dates, parse_date),
            preferred_date_text=_clip(dates[0] if dates else None, 200),
            message=message,
            details=details_of(fields, message),
            received_at=received,
        )


def _has_address(value: str) -> bool:
    return find_email(value, lambda _: False) is not None


# Fields whose value must be read as something; a value that cannot be is kept in `details`.
_READERS: dict[str, Callable[[str], object]] = {
    "email": lambda v: True if _has_address(v) else None,
    "phone": find_phone,
    "square_meters": parse_area,
    "rooms": parse_count,
    "received_at": parse_local_datetime,
    "postal_code": lambda v: _postal_code(v),
}


def details_of(fields: Fields, message: str | None) -> dict[str, str]:
    """Labelled answers no field took: unknown labels, unreadable values, further free text."""
    details: dict[str, str] = {}
    message_seen = False
    for hit in fields.hits:
        if not hit.value or len(details) >= MAX_DETAILS:
            continue
        if hit.key == "message" and hit.value == message and not message_seen:
            message_seen = True
            continue
        reader = _READERS.get(hit.key)
        if hit.key in (DETAIL, "message") or (reader is not None and reader(hit.value) is None):
            _put(details, hit)
    return details


def _put(details: dict[str, str], hit: Hit) -> None:
    label = hit.label[:100].rstrip(" :?") or hit.key
    key, n = label, 2
    while key in details:
        key, n = f"{label} ({n})", n + 1
    details[key] = hit.value[:MAX_DETAIL_CHARS]


def _postal_code(value: str | None) -> str | None:
    match = re.search(r"(?<!\d)[1-9]\d{3}(?!\d)", value or "")
    return match.group() if match else None


def _clip(value: str | None, limit: int) -> str | None:
    """Return the value trimmed to the column's length, or None when empty."""
    if value is None:
        return None
    value = " ".join(value.split())
    return value[:limit].rstrip() or None
