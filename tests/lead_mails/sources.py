"""The four lead sources as issue #4 describes them: senders, subjects, labels, footers.

Written from the issue's descriptions of each platform's mail (and the label spellings the
parsers document), not from the sample mailbox. `draft` picks a random subset of a source's
fields, fills them with answers and records what reading them must give.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Source:
    key: str
    display_name: str
    senders: tuple[tuple[str, str], ...]
    subjects: tuple[str, ...]
    labels: dict[str, tuple[str, ...]]  # field -> spellings
    colon: bool  # how the platform writes its field labels
    intros: tuple[str, ...]
    footers: tuple[str, ...]  # text, "\n" between lines
    headings: tuple[str, ...] = ()
    reply_to_customer: bool = False


RENGORING = Source(
    key="rengoring_nu",
    display_name="Rengøring.nu",
    senders=(("Rengøring.nu", "noreply@leadmail.no"), ("Rengøring.nu", "leads@leadmail.no")),
    subjects=("Nyt lead fra Rengøring.nu",),
    labels={
        "received_at": ("Modtaget",),
        "domain": ("Domæne",),
        "contact_type": ("Type kontakt",),
        "task_type": ("Behov",),
        "property_type": ("Boligtype",),
        "square_meters": ("Hvor stort er området", "Hvor stor er boligen"),
        "rooms": ("Hvor mange værelser",),
        "floor": ("På hvilken etage ligger boligen",),
        "preferred_date": ("Hvornår skal opgaven udføres", "Hvornår ønskes opgaven udført"),
        "message": ("Kommentar", "Beskrivelse af opgaven", "Yderligere information"),
        "name": ("Navn",),
        "email": ("Email",),
        "phone": ("Telefon",),
        "address": ("Adresse",),
    },
    colon=False,
    intros=(
        "Du har modtaget et nyt lead.",
        "Hej\n\nDu har modtaget en ny opgave via Rengøring.nu.",
    ),
    footers=(
        "Med venlig hilsen\nRengøring.nu",
        "Venlig hilsen\nRengøring.nu · support@leadmail.no",
    ),
    headings=("Kontaktoplysninger", "Kontaktoplysninger:", "KONTAKTOPLYSNINGER"),
)
LEADPOINT = Source(
    key="leadpoint",
    display_name="Leadpoint",
    senders=(("Leadpoint", "opgaver@leadpoint.dk"), ("Rengøring Aarhus", "noreply@leadpoint.dk")),
    subjects=("Ny opgave fra Leadpoint", "Ny forespørgsel fra Rengøring Aarhus"),
    labels={
        "name": ("Kundens navn",),
        "email": ("E-mail", "Kundens email"),
        "phone": ("Tlf.", "Kundens telefon"),
        "address": ("Adresse",),
        "postal_city": ("Postnr. og by",),
        "task_type": ("Opgave",),
        "square_meters": ("Størrelse", "Boligareal"),
        "preferred_date": ("Ønsket dato", "Ønsket opstart"),
        "message": ("Beskrivelse", "Opgavebeskrivelse"),
    },
    colon=True,
    intros=("Ny opgave fra Leadpoint", "Hej Rendetalje,\nI har fået en ny opgave."),
    footers=("--\nLeadpoint ApS", "--\nLeadpoint ApS · Tlf. 70 20 30 40 · kontakt@leadpoint.dk"),
    headings=("Kundeoplysninger", "Om opgaven"),
    reply_to_customer=True,
)
ADHELP = Source(
    key="adhelp",
    display_name="AdHelp",
    senders=(("AdHelp", "mw@adhelp.dk"), ("Mette W. | AdHelp", "sp@adhelp.dk")),
    subjects=("Ny kundehenvendelse", "Ny kundehenvendelse via AdHelp"),
    labels={
        "name": ("Kunde navn",),
        "email": ("Kunde e-mail",),
        "phone": ("Kunde telefon",),
        "address": ("Kunde adresse",),
        "task_type": ("Ønsket ydelse",),
        "square_meters": ("Størrelse",),
        "preferred_date": ("Ønsket dato",),
        "message": ("Besked fra kunden", "Kundens besked"),
    },
    colon=True,
    intros=("Hej Rendetalje\n\nVi har fundet en ny kunde til jer via kampagnen.",),
    footers=("Mvh AdHelp", "--\nAdHelp ApS · mw@adhelp.dk · sp@adhelp.dk · 33 12 34 56"),
    headings=("Kunde", "Kundeoplysninger"),
)
WEBSITE = Source(
    key="website",
    display_name="Website",
    senders=(("Rendetalje.dk", "noreply@rendetalje.dk"), ("", "no-reply@rendetalje.dk")),
    subjects=("Ny henvendelse fra rendetalje.dk", "Kontaktformular"),
    labels={
        "name": ("Navn",),
        "email": ("Email",),
        "phone": ("Telefon",),
        "address": ("Adresse",),
        "message": ("Besked",),
    },
    colon=True,
    intros=("Ny henvendelse fra kontaktformularen på rendetalje.dk",),
    footers=("Denne mail er sendt automatisk fra rendetalje.dk",),
    reply_to_customer=True,
)
SOURCES = (RENGORING, LEADPOINT, ADHELP, WEBSITE)
QUESTIONS = (
    ("Har I husdyr", ("Ja", "Nej", "Ja, en hund")),
    ("Hvor ofte skal der gøres rent", ("Hver uge", "Hver 14. dag", "En gang om måneden")),
    ("Er der parkering ved boligen", ("Ja", "Nej, kun på gaden")),
    ("Skal der medbringes rengøringsmidler", ("Ja", "Nej")),
    ("Hvordan kommer vi ind i boligen", ("Nøgle hos naboen", "Vi er hjemme")),
)
CONTACT = ("name", "email", "phone", "address", "postal_city")
LEAD_FIELDS = (
    "source", "name", "email", "phone", "address", "postal_code", "city", "square_meters",
    "rooms", "floor", "property_type", "task_type", "contact_type", "preferred_date",
    "preferred_date_text", "message", "details", "received_at", "needs_review",
)  # fmt: skip


@dataclass(frozen=True)
class Line:
    """One labelled answer: field key ("question" for a platform's added one), label, value."""

    key: str
    label: str
    value: str


@dataclass
class Draft:
    source: Source
    sender: tuple[str, str]
    subject: str
    sent: datetime
    reply_to: str | None
    blocks: list[list[Line | str]]  # a str is a section heading
    intro: str
    footer: str | None
    expected: dict[str, Any] = field(default_factory=dict)
