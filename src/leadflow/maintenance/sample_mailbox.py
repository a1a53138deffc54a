"""A synthetic mailbox for the demo and the lead/matching evaluation, with its ground truth.

Everything here is invented. `build_sample_mailbox(seed, customers)` is deterministic: the same
arguments give byte-identical mail, so the bundled `data/sample-mailbox.mbox` can be checked
against it. Each message carries what a correct pipeline must make of it (the lead it holds, the
customer its thread belongs to), which `bench/evaluate_leads.py` scores the pipeline against.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from pathlib import Path
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


def _phone_digits(rng: random.Random) -> str:
    return str(rng.choice([2, 3, 4, 5, 6, 7, 8, 9])) + "".join(
        str(rng.randint(0, 9)) for _ in range(7)
    )


def _customer(rng: random.Random, index: int, *, company: tuple[str, str] | None) -> SampleCustomer:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{first}.{last}{index}".lower()
    local = local.replace("æ", "ae").replace("ø", "oe").replace("å", "aa")
    domain = company[1] if company else rng.choice(FREEMAIL)
    postal, city = rng.choice(CITIES)
    return SampleCustomer(
        name=f"{first} {last}",
        email=f"{local}@{domain}",
        phone="+45" + _phone_digits(rng),
        address=f"{rng.choice(STREETS)} {rng.randint(1, 140)}",
        postal_code=postal,
        city=city,
        company_name=company[0] if company else None,
    )


def _spaced(phone: str, style: int) -> str:
    digits = phone.removeprefix("+45")
    if style == 0:
        return "+45 " + " ".join(digits[i : i + 2] for i in range(0, 8, 2))
    if style == 1:
        return digits
    return phone


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.clock = START
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


def _expected_lead(
    c: SampleCustomer, source: str, received: datetime, **extra: object
) -> dict[str, object]:
    lead: dict[str, object] = {
        "source": source,
        "name": c.name,
        "email": c.email,
        "phone": c.phone,
        "address": c.address,
        "postal_code": c.postal_code,
        "city": c.city,
        "received_at": received,
    }
    lead.update(extra)
    return lead


def _vary_label(w: _Writer, label: str) -> str:
    """Real lead mail varies: label case, a colon or none, odd spacing."""
    choice = w.rng.randrange(6)
    if choice == 1:
        label = label.lower()
    elif choice == 2:
        label = label.upper()
    elif choice == 3:
        label = label[:-1] if label.endswith(":") else label + ":"
    elif choice == 4:
        label = label.replace(":", " :") if label.endswith(":") else label + "  "
    return label


def _vary_lines(w: _Writer, rows: list[tuple[str, str]], contact_from: int) -> str:
    """Rows as text lines, labels varied, the contact block shuffled, stray blank lines."""
    head, contact = rows[:contact_from], rows[contact_from:]
    w.rng.shuffle(contact)
    lines = []
    for label, value in head + contact:
        lines.append(f"{_vary_label(w, label)} {value}")
        if w.rng.random() < 0.15:
            lines.append("")
    return "\n".join(lines)


def _vary_subject(w: _Writer, subject: str) -> str:
    return w.rng.choice(["", "", "", "Fwd: ", "VS: ", "Re: "]) + subject


def _rengoring_nu(w: _Writer, c: SampleCustomer, *, html: bool) -> SampleMessage:
    task, home = w.rng.choice(TASKS), w.rng.choice(HOMES)
    size, rooms, floor = w.rng.randint(45, 220), w.rng.randint(1, 6), w.rng.randint(0, 5)
    received = (
        (w.clock + timedelta(minutes=3)).astimezone(COPENHAGEN).replace(second=0, microsecond=0)
    )
    rows = [
        ("Modtaget", f"{received.day}-{received.month}-{received.year} kl. {received:%H:%M}"),
        ("Domæne", "Rengøring.nu"),
        ("Type kontakt", "Privat"),
        ("Behov", task),
        ("Boligtype", home),
        ("Hvor stort er området:", str(size)),
        ("Hvor mange værelser:", str(rooms)),
        ("På hvilken etage ligger boligen:", str(floor)),
        ("Navn", c.name),
        ("Email", c.email),
        ("Telefon", _spaced(c.phone, w.rng.randint(0, 2))),
        ("Adresse", f"{c.address}, {c.postal_code} {c.city}"),
    ]
    text = "Du har modtaget et nyt lead\n\n" + _vary_lines(w, rows, contact_from=8) + "\n"
    body_html = None
    if html:
        cells = "".join(
            f"<tr>\n  <td><b>{_vary_label(w, k)}</b></td>\n  <td>{v}</td>\n</tr>\n" for k, v in rows
        )
        body_html = (
            f"<html><body><p>Du har modtaget et nyt lead</p><table>{cells}</table></body></html>"
        )
    msg, mid, _ = w.message(
        sender=("Rengøring.nu", "noreply@leadmail.no"),
        to=[("", OWN_ADDRESS)],
        subject=_vary_subject(w, "Nyt lead fra Rengøring.nu"),
        text=None if html else text,
        html=body_html,
        labels="Inbox,Category Updates",
    )
    lead = _expected_lead(
        c,
        "Rengøring.nu",
        received.astimezone(UTC),
        task_type=task,
        property_type=home,
        square_meters=float(size),
        rooms=rooms,
        floor=str(floor),
        contact_type="Privat",
    )
    return SampleMessage(bytes(msg), mid, mid, lead=lead, customer_email=c.email)


def _leadpoint(w: _Writer, c: SampleCustomer) -> SampleMessage:
    task, size = w.rng.choice(TASKS), w.rng.randint(50, 200)
    wanted = (w.clock + timedelta(days=w.rng.randint(5, 30))).date()
    rows = [
        ("Kundens navn:", c.name),
        ("E-mail:", c.email),
        ("Tlf.:", _spaced(c.phone, w.rng.randint(0, 2))),
        ("Adresse:", f"{c.address}, {c.postal_code} {c.city}"),
        ("Opgave:", task),
        ("Størrelse:", f"{size} " + w.rng.choice(["m2", "m²", "kvm"])),
        ("Ønsket dato:", f"{wanted:%d-%m-%Y}"),
    ]
    text = "Ny opgave fra Rengøring Aarhus\n\n" + _vary_lines(w, rows, contact_from=0) + "\n"
    msg, mid, sent = w.message(
        sender=("Leadpoint", "leads@leadpoint.dk"),
        to=[("", OWN_ADDRESS)],
        subject=_vary_subject(w, "Ny forespørgsel: " + task),
        text=text,
        reply_to=formataddr((c.name, c.email)),
    )
    lead = _expected_lead(
        c, "Leadpoint", sent, task_type=task, square_meters=float(size), preferred_date=wanted
    )
    return SampleMessage(bytes(msg), mid, mid, lead=lead, customer_email=c.email)


def _adhelp(w: _Writer, c: SampleCustomer) -> SampleMessage:
    task = w.rng.choice(TASKS)
    rows = [
        ("Kunde navn:", c.name),
        ("Kunde e-mail:", c.email),
        ("Kunde telefon:", _spaced(c.phone, w.rng.randint(0, 2))),
        ("Adresse:", f"{c.address}, {c.postal_code} {c.city}"),
        ("Opgave:", task),
    ]
    text = (
        "Hej Rendetalje\n\nI har fået en ny henvendelse via AdHelp.\n\n"
        + _vary_lines(w, rows, contact_from=0)
        + "\n\nMvh AdHelp\n"
    )
    msg, mid, sent = w.message(
        sender=("AdHelp", w.rng.choice(["mw@adhelp.dk", "sp@adhelp.dk"])),
        to=[("", OWN_ADDRESS)],
        subject=_vary_subject(w, "Ny kunde: " + task),
        text=text,
    )
    lead = _expected_lead(c, "AdHelp", sent, task_type=task)
    return SampleMessage(bytes(msg), mid, mid, lead=lead, customer_email=c.email)


def _website(w: _Writer, c: SampleCustomer) -> SampleMessage:
    note = w.rng.choice(
        [
            "Vi vil gerne have et tilbud på rengøring hver anden uge.",
            "Kan I hjælpe med flytterengøring i næste måned?\nVi har to badeværelser.",
            "Jeg søger hjælp til vinduespudsning, gerne om fredagen.",
        ]
    )
    rows = [
        ("Navn:", c.name),
        ("Email:", c.email),
        ("Telefon:", _spaced(c.phone, w.rng.randint(0, 2))),
    ]
    # The message is free text over several lines, so it stays last.
    text = _vary_lines(w, rows, contact_from=0) + f"\nBesked: {note}\n"
    msg, mid, sent = w.message(
        sender=("Rendetalje.dk", "noreply@rendetalje.dk"),
        to=[("", OWN_ADDRESS)],
        subject=_vary_subject(w, "Ny henvendelse fra rendetalje.dk"),
        text=text,
        reply_to=formataddr((c.name, c.email)),
    )
    lead = _expected_lead(c, "Website", sent, message=note)
    lead.pop("address"), lead.pop("postal_code"), lead.pop("city")
    return SampleMessage(bytes(msg), mid, mid, lead=lead, customer_email=c.email)


def _needs_review(w: _Writer) -> SampleMessage:
    """A Rengøring.nu lead whose contact block is empty: kept as a lead, flagged for review."""
    text = (
        "Du har modtaget et nyt lead\n\nDomæne Rengøring.nu\nType kontakt Privat\n"
        "Behov Hovedrengøring\nBoligtype Rækkehus\n\nNavn Ukendt\n"
    )
    msg, mid, sent = w.message(
        sender=("Rengøring.nu", "noreply@leadmail.no"),
        to=[("", OWN_ADDRESS)],
        subject="Nyt lead fra Rengøring.nu",
        text=text,
    )
    lead: dict[str, object] = {
        "source": "Rengøring.nu",
        "name": "Ukendt",
        "email": None,
        "phone": None,
        "task_type": "Hovedrengøring",
        "property_type": "Rækkehus",
        "contact_type": "Privat",
        "received_at": sent,
        "needs_review": True,
    }
    return SampleMessage(bytes(msg), mid, mid, lead=lead)


def _conversation(
    w: _Writer, c: SampleCustomer, opener: SampleMessage, turns: int
) -> list[SampleMessage]:
    """Our reply to a lead (to the customer), then turns of back and forth in one thread."""
    out: list[SampleMessage] = []
    previous = opener
    base_subject = "Tilbud på rengøring"
    for turn in range(turns):
        ours = turn % 2 == 0
        sender = ("Rendetalje", OWN_ADDRESS) if ours else (c.name, c.email)
        to = [(c.name, c.email)] if ours else [("Rendetalje", OWN_ADDRESS)]
        text = (
            f"Hej {c.name.split()[0]}\n\nTak for din henvendelse. Vi kan tilbyde en pris.\n\n"
            "Venlig hilsen\nRendetalje\n"
            if ours
            else "Hej\n\nDet lyder godt. Hvornår kan I starte?\n\nMvh " + c.name + "\n"
        )
        msg, mid, _ = w.message(
            sender=sender,
            to=to,
            subject=("Re: " if turn else "") + base_subject,
            text=text,
            in_reply_to=previous if turn else None,
            labels="Sent" if ours else "Inbox",
        )
        thread_key = out[0].thread_key if out else mid
        sample = SampleMessage(bytes(msg), mid, thread_key, customer_email=c.email)
        out.append(sample)
        previous = sample
    return out


def _phone_only_inquiry(w: _Writer, c: SampleCustomer) -> SampleMessage:
    """A customer writing from an unknown address, signing with a known phone number."""
    alias = c.email.split("@")[0] + ".privat@" + "webspeed.dk"
    text = (
        "Hej\n\nJeg har tidligere fået hjælp af jer og vil gerne bestille igen.\n"
        f"Ring gerne på {_spaced(c.phone, 0)}.\n\nMvh {c.name}\n"
    )
    msg, mid, _ = w.message(
        sender=(c.name, alias), to=[("", OWN_ADDRESS)], subject="Bestilling igen", text=text
    )
    return SampleMessage(bytes(msg), mid, mid, customer_email=c.email)


def _colleague_inquiry(w: _Writer, c: SampleCustomer) -> SampleMessage:
    """Someone else at a customer's company domain (matched by the company domain)."""
    domain = c.email.split("@")[1]
    text = "Hej\n\nKan I også gøre vores mødelokaler rene om fredagen?\n\nMvh kontoret\n"
    msg, mid, _ = w.message(
        sender=("Kontoret", f"kontor@{domain}"),
        to=[("", OWN_ADDRESS)],
        subject="Ekstra rengøring",
        text=text,
    )
    return SampleMessage(bytes(msg), mid, mid, customer_email=c.email)


def _noise(w: _Writer, index: int) -> SampleMessage:
    kind = index % 4
    if kind == 0:
        msg, mid, _ = w.message(
            sender=("Rengøringsbladet", "nyhedsbrev@rengoringsbladet.example"),
            to=[("", OWN_ADDRESS)],
            subject="Månedens nyheder om rengøring",
            html="<html><body><h1>Nyheder</h1><p>Læs om nye lead-platforme og priser.</p>"
            "<p><a href='https://example.invalid/afmeld'>Afmeld</a></p></body></html>",
            labels="Category Promotions",
        )
    elif kind == 1:
        msg, mid, _ = w.message(
            sender=("Banken", "no-reply@bank.example"),
            to=[("", OWN_ADDRESS)],
            subject="Din kontoudskrift er klar",
            text="Din kontoudskrift kan ses i netbanken.\n",
        )
    elif kind == 2:
        msg, mid, _ = w.message(
            sender=("Leverandør", "ordre@rengoeringsartikler.example"),
            to=[("", OWN_ADDRESS)],
            subject="Ordrebekræftelse 4411" + str(index),
            text="Tak for din ordre på mikrofiberklude og sæbe.\n",
        )
    else:
        msg, mid, _ = w.message(
            sender=("Rendetalje", OWN_ADDRESS),
            to=[("Revisor", "revisor@regnskab.example")],
            subject="Bilag for oktober",
            text="Hej\n\nHer er bilagene.\n\nMvh Rendetalje\n",
            labels="Sent",
        )
    return SampleMessage(bytes(msg), mid, mid)


def build_sample_mailbox(seed: int = 2026, customers: int = 40) -> SampleMailbox:
    """Build the synthetic mailbox: leads from every platform, conversations, noise."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    companies = list(COMPANIES)
    people = [
        _customer(rng, i, company=companies[i % len(companies)] if i % 8 == 7 else None)
        for i in range(customers)
    ]
    w = _Writer(rng)
    box = SampleMailbox(customers=people)
    domain_users = Counter(p.email.split("@")[1] for p in people)
    makers = ["rengoring_nu", "rengoring_nu_html", "leadpoint", "adhelp", "website"]
    for i, c in enumerate(people):
        maker = makers[i % len(makers)]
        if maker == "rengoring_nu":
            lead = _rengoring_nu(w, c, html=False)
        elif maker == "rengoring_nu_html":
            lead = _rengoring_nu(w, c, html=True)
        elif maker == "leadpoint":
            lead = _leadpoint(w, c)
        elif maker == "adhelp":
            lead = _adhelp(w, c)
        else:
            lead = _website(w, c)
        box.messages.append(lead)
        if i % 3 != 2:
            box.messages.extend(_conversation(w, c, lead, turns=rng.randint(1, 4)))
        if i % 10 == 4:
            box.messages.append(_phone_only_inquiry(w, c))
        if c.company_name and i % 16 == 15:
            colleague = _colleague_inquiry(w, c)
            if domain_users[c.email.split("@")[1]] > 1:
                # Several customers share the company domain: nobody can tell whose it is.
                colleague.customer_email = None
            box.messages.append(colleague)
        if i % 13 == 6:
            again = _website(w, c)  # asks again a few days later: a duplicate of the open lead
            assert again.lead is not None
            again.lead["duplicate"] = True
            box.messages.append(again)
        if i % 2 == 0:
            box.messages.append(_noise(w, i))
        if i % 20 == 19:
            box.messages.append(_needs_review(w))
    return box


BUNDLED_MBOX = "sample-mailbox.mbox"


def bundled_mbox_path() -> Path:
    """Path of the sample mailbox shipped inside the package (what `leadflow demo` imports)."""
    return Path(__file__).parent / "data" / BUNDLED_MBOX


if __name__ == "__main__":
    # Regenerate the bundled file: python -m leadflow.maintenance.sample_mailbox
    bundled_mbox_path().write_bytes(build_sample_mailbox().mbox_bytes())
