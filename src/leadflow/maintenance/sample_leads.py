"""Lead-platform emails for the sample mailbox, each with the lead it must yield."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import formataddr

from leadflow.maintenance.sample_parts import (
    COPENHAGEN,
    HOMES,
    OWN_ADDRESS,
    TASKS,
    MailWriter,
    SampleCustomer,
    SampleMessage,
    spaced_phone,
)


def expected_lead(
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


def vary_label(w: MailWriter, label: str) -> str:
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


def vary_lines(w: MailWriter, rows: list[tuple[str, str]], contact_from: int) -> str:
    """Rows as text lines, labels varied, the contact block shuffled, stray blank lines."""
    head, contact = rows[:contact_from], rows[contact_from:]
    w.rng.shuffle(contact)
    lines = []
    for label, value in head + contact:
        lines.append(f"{vary_label(w, label)} {value}")
        if w.rng.random() < 0.15:
            lines.append("")
    return "\n".join(lines)


def vary_subject(w: MailWriter, subject: str) -> str:
    return w.rng.choice(["", "", "", "Fwd: ", "VS: ", "Re: "]) + subject


def rengoring_nu_lead(w: MailWriter, c: SampleCustomer, *, html: bool) -> SampleMessage:
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
        ("Telefon", spaced_phone(c.phone, w.rng.randint(0, 2))),
        ("Adresse", f"{c.address}, {c.postal_code} {c.city}"),
    ]
    text = "Du har modtaget et nyt lead\n\n" + vary_lines(w, rows, contact_from=8) + "\n"
    body_html = None
    if html:
        cells = "".join(
            f"<tr>\n  <td><b>{vary_label(w, k)}</b></td>\n  <td>{v}</td>\n</tr>\n" for k, v in rows
        )
        body_html = (
            f"<html><body><p>Du har modtaget et nyt lead</p><table>{cells}</table></body></html>"
        )
    msg, mid, _ = w.message(
        sender=("Rengøring.nu", "noreply@leadmail.no"),
        to=[("", OWN_ADDRESS)],
        subject=vary_subject(w, "Nyt lead fra Rengøring.nu"),
        text=None if html else text,
        html=body_html,
        labels="Inbox,Category Updates",
    )
    lead = expected_lead(
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


def leadpoint_lead(w: MailWriter, c: SampleCustomer) -> SampleMessage:
    task, size = w.rng.choice(TASKS), w.rng.randint(50, 200)
    wanted = (w.clock + timedelta(days=w.rng.randint(5, 30))).date()
    rows = [
        ("Kundens navn:", c.name),
        ("E-mail:", c.email),
        ("Tlf.:", spaced_phone(c.phone, w.rng.randint(0, 2))),
        ("Adresse:", f"{c.address}, {c.postal_code} {c.city}"),
        ("Opgave:", task),
        ("Størrelse:", f"{size} " + w.rng.choice(["m2", "m²", "kvm"])),
        ("Ønsket dato:", f"{wanted:%d-%m-%Y}"),
    ]
    text = "Ny opgave fra Rengøring Aarhus\n\n" + vary_lines(w, rows, contact_from=0) + "\n"
    msg, mid, sent = w.message(
        sender=("Leadpoint", "leads@leadpoint.dk"),
        to=[("", OWN_ADDRESS)],
        subject=vary_subject(w, "Ny forespørgsel: " + task),
        text=text,
        reply_to=formataddr((c.name, c.email)),
    )
    lead = expected_lead(
        c,
        "Leadpoint",
        sent,
        task_type=task,
        square_meters=float(size),
        preferred_date=wanted,
        preferred_date_text=f"{wanted:%d-%m-%Y}",
    )
    return SampleMessage(bytes(msg), mid, mid, lead=lead, customer_email=c.email)


def adhelp_lead(w: MailWriter, c: SampleCustomer) -> SampleMessage:
    task = w.rng.choice(TASKS)
    rows = [
        ("Kunde navn:", c.name),
        ("Kunde e-mail:", c.email),
        ("Kunde telefon:", spaced_phone(c.phone, w.rng.randint(0, 2))),
        ("Adresse:", f"{c.address}, {c.postal_code} {c.city}"),
        ("Opgave:", task),
    ]
    text = (
        "Hej Rendetalje\n\nI har fået en ny henvendelse via AdHelp.\n\n"
        + vary_lines(w, rows, contact_from=0)
        + "\n\nMvh AdHelp\n"
    )
    msg, mid, sent = w.message(
        sender=("AdHelp", w.rng.choice(["mw@adhelp.dk", "sp@adhelp.dk"])),
        to=[("", OWN_ADDRESS)],
        subject=vary_subject(w, "Ny kunde: " + task),
        text=text,
    )
    lead = expected_lead(c, "AdHelp", sent, task_type=task)
    return SampleMessage(bytes(msg), mid, mid, lead=lead, customer_email=c.email)


def website_lead(w: MailWriter, c: SampleCustomer) -> SampleMessage:
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
        ("Telefon:", spaced_phone(c.phone, w.rng.randint(0, 2))),
    ]
    # The message is free text over several lines, so it stays last.
    text = vary_lines(w, rows, contact_from=0) + f"\nBesked: {note}\n"
    msg, mid, sent = w.message(
        sender=("Rendetalje.dk", "noreply@rendetalje.dk"),
        to=[("", OWN_ADDRESS)],
        subject=vary_subject(w, "Ny henvendelse fra rendetalje.dk"),
        text=text,
        reply_to=formataddr((c.name, c.email)),
    )
    lead = expected_lead(c, "Website", sent, message=note)
    lead.pop("address"), lead.pop("postal_code"), lead.pop("city")
    return SampleMessage(bytes(msg), mid, mid, lead=lead, customer_email=c.email)


def needs_review_lead(w: MailWriter) -> SampleMessage:
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
