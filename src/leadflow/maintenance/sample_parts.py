"""Building blocks of the synthetic sample mailbox: people, places, and a mail writer."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from zoneinfo import ZoneInfo

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
OWN_ADDRESS = "info@rendetalje.dk"
START = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)

FIRST = [
    "Mette",
    "Søren",
    "Anne",
    "Jens",
    "Louise",
    "Mads",
    "Camilla",
    "Rasmus",
    "Ida",
    "Frederik",
    "Sofie",
    "Kasper",
    "Emma",
    "Jonas",
    "Freja",
    "Anders",
    "Line",
    "Mikkel",
    "Astrid",
    "Niels",
    "Karen",
    "Bjørn",
    "Ærtebjerg",
    "Maja",
    "Ole",
]
LAST = [
    "Jensen",
    "Nielsen",
    "Hansen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Jørgensen",
    "Madsen",
    "Kristensen",
    "Østergaard",
    "Dahl",
    "Lund",
    "Holm",
    "Bæk",
    "Skov",
    "Krogh",
    "Ærø",
]
FREEMAIL = [
    "gmail.com",
    "hotmail.com",
    "hotmail.dk",
    "outlook.dk",
    "live.dk",
    "yahoo.dk",
    "icloud.com",
    "mail.dk",
]
COMPANIES = [
    ("Nordlys Tandklinik ApS", "nordlys-tand.dk"),
    ("Havnens Kontorfællesskab", "havnekontor.dk"),
    ("Bryggen Revision", "bryggen-revision.dk"),
    ("Solsiden Ejendomme", "solsiden-ejd.dk"),
    ("Kvist Arkitekter", "kvist-ark.dk"),
]
STREETS = [
    "Søndergade",
    "Vestergade",
    "Åboulevarden",
    "Frederiksgade",
    "Skovvej",
    "Bøgevej",
    "Møllevej",
    "Strandvejen",
    "Kirkevej",
    "Engtoften",
]
CITIES = [
    ("8000", "Aarhus C"),
    ("8200", "Aarhus N"),
    ("8210", "Aarhus V"),
    ("8240", "Risskov"),
    ("8260", "Viby J"),
    ("8270", "Højbjerg"),
    ("8300", "Odder"),
    ("8330", "Beder"),
]
TASKS = ["Fast rengøringshjælp", "Flytterengøring", "Hovedrengøring", "Vinduespudsning"]
HOMES = ["Lejlighed", "Villa/Parcelhus", "Rækkehus", "Andelsbolig"]


@dataclass(frozen=True)
class SampleCustomer:
    name: str
    email: str
    phone: str  # E.164
    address: str
    postal_code: str
    city: str
    company_name: str | None = None


@dataclass
class SampleMessage:
    """One email of the sample and what the pipeline must make of it."""

    raw: bytes
    message_id: str
    thread_key: str
    lead: dict[str, object] | None = None  # expected lead fields; None = not a lead email
    customer_email: str | None = None  # customer the thread belongs to; None = nobody


@dataclass
class SampleMailbox:
    customers: list[SampleCustomer]
    messages: list[SampleMessage] = field(default_factory=list)
    last_sent: datetime = START  # when the newest message was sent

    def mbox_bytes(self) -> bytes:
        """The messages as one mbox file (mboxrd quoting of body lines starting with From)."""
        chunks = []
        for message in self.messages:
            body = b"\n".join(
                b">" + line if line.lstrip(b">").startswith(b"From ") else line
                for line in message.raw.replace(b"\r\n", b"\n").split(b"\n")
            )
            chunks.append(b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n" + body.rstrip(b"\n"))
        return b"\n\n".join(chunks) + b"\n"


def phone_digits(rng: random.Random) -> str:
    return str(rng.choice([2, 3, 4, 5, 6, 7, 8, 9])) + "".join(
        str(rng.randint(0, 9)) for _ in range(7)
    )


def make_customer(
    rng: random.Random, index: int, *, company: tuple[str, str] | None
) -> SampleCustomer:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{first}.{last}{index}".lower()
    local = local.replace("æ", "ae").replace("ø", "oe").replace("å", "aa")
    domain = company[1] if company else rng.choice(FREEMAIL)
    postal, city = rng.choice(CITIES)
    return SampleCustomer(
        name=f"{first} {last}",
        email=f"{local}@{domain}",
        phone="+45" + phone_digits(rng),
        address=f"{rng.choice(STREETS)} {rng.randint(1, 140)}",
        postal_code=postal,
        city=city,
        company_name=company[0] if company else None,
    )


def spaced_phone(phone: str, style: int) -> str:
    digits = phone.removeprefix("+45")
    if style == 0:
        return "+45 " + " ".join(digits[i : i + 2] for i in range(0, 8, 2))
    if style == 1:
        return digits
    return phone


class MailWriter:
    def __init__(self, rng: random.Random, start: datetime = START) -> None:
        self.rng = rng
        self.clock = start.astimezone(UTC)  # absolute time: spacing is kept across clock changes
        self.counter = 0

    def tick(self) -> datetime:
        self.clock += timedelta(minutes=self.rng.randint(20, 600))
        return self.clock

    def message(
        self,
        *,
        sender: tuple[str, str],
        to: list[tuple[str, str]],
        subject: str,
        text: str | None = None,
        html: str | None = None,
        reply_to: str | None = None,
        in_reply_to: SampleMessage | None = None,
        labels: str | None = None,
    ) -> tuple[EmailMessage, str, datetime]:
        self.counter += 1
        sent = self.tick()
        msg = EmailMessage(policy=SMTP)
        msg["From"] = formataddr(sender)
        msg["To"] = ", ".join(formataddr(t) for t in to)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(sent.astimezone(COPENHAGEN))
        message_id = f"<sample-{self.counter:05d}@mail.example.invalid>"
        msg["Message-ID"] = message_id
        if reply_to:
            msg["Reply-To"] = reply_to
        if in_reply_to is not None:
            msg["In-Reply-To"] = in_reply_to.message_id
            msg["References"] = in_reply_to.message_id
        if labels:
            msg["X-Gmail-Labels"] = labels
        if text is not None:
            msg.set_content(text)
            if html is not None:
                msg.add_alternative(html, subtype="html")
        elif html is not None:
            msg.set_content(html, subtype="html")
        return msg, message_id, sent
