"""Generated lead mails in a mailbox with the customers' own mail, for end-to-end scoring.

Besides each lead mail: the customer writes again, as a reply in the lead's thread, in a thread
of their own, or from another address giving the phone number. The truth per message is what
the sample mailbox's scoring reads (`SampleMessage.lead`, `.customer_email`): a thread belongs
to the customer whose email a lead gave, else to nobody.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from leadflow.maintenance.sample_parts import SampleMailbox, SampleMessage
from tests.lead_mails import GeneratedLead, RandomChooser, generate
from tests.lead_mails.render import OWN_ADDRESS

FOLLOW_UPS = ("reply", "own_thread", "phone_from_other_address", "none")


def _mail(
    *, sender: tuple[str, str], subject: str, body: str, mail: GeneratedLead, n: int, reply: bool
) -> tuple[bytes, str]:
    msg = EmailMessage()
    msg["From"] = formataddr(sender)
    msg["To"] = OWN_ADDRESS
    msg["Subject"] = subject
    msg["Date"] = format_datetime(mail.sent + timedelta(hours=2 + n % 48))
    message_id = f"<follow-up-{n}@customer.test>"
    msg["Message-ID"] = message_id
    if reply:
        msg["In-Reply-To"] = mail.message_id
        msg["References"] = mail.message_id
    msg.set_content(body)
    return bytes(msg), message_id


def _follow_up(
    mail: GeneratedLead, kind: str, n: int, customers: Counter[str]
) -> SampleMessage | None:
    """The customer's own mail after their lead, and the customer its thread belongs to."""
    email, phone = mail.expected["email"], mail.expected["phone"]
    name = mail.expected["name"] or ""
    if kind in ("reply", "own_thread") and email:
        raw, mid = _mail(
            sender=(name, email),
            subject="Re: Tilbud på rengøring" if kind == "reply" else "Spørgsmål til rengøring",
            body="Hej\n\nHar I fået min forespørgsel? Jeg kan bedst om formiddagen.\n",
            mail=mail,
            n=n,
            reply=kind == "reply",
        )
        return SampleMessage(raw, mid, mid, customer_email=email)
    if kind == "phone_from_other_address" and phone and customers[email or ""] <= 1:
        raw, mid = _mail(
            sender=("", f"anden.adresse{n}@example.org"),
            subject="Rengøring",
            body=f"Hej, det er mig der skrev om rengøring. Ring gerne på {phone}.\n",
            mail=mail,
            n=n,
            reply=False,
        )
        # Matchable by phone when the lead made a customer with that phone. Two generated people
        # may share an email (same name); the customer then keeps one of their phones and the
        # truth is unclear, so the phone mail is only written for an email used once.
        return SampleMessage(raw, mid, mid, customer_email=email if email in customers else None)
    return None


def generated_mailbox(seed: int, leads: int) -> tuple[SampleMailbox, list[GeneratedLead]]:
    """`leads` generated lead mails, each followed by some mail of its customer."""
    chooser = RandomChooser(random.Random(seed))
    mails = [generate(chooser, index) for index in range(leads)]
    customers = Counter(m.expected["email"] for m in mails if m.expected["email"])
    box = SampleMailbox(customers=[])
    for n, mail in enumerate(mails):
        email = mail.expected["email"]
        box.messages.append(
            SampleMessage(mail.raw, mail.message_id, mail.message_id, lead=mail.expected,
                          customer_email=email)
        )  # fmt: skip
        follow_up = _follow_up(mail, chooser.pick(FOLLOW_UPS), n, customers)
        if follow_up is not None:
            box.messages.append(follow_up)
    return box, mails
