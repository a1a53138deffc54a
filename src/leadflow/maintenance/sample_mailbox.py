"""A synthetic mailbox for the demo and the lead/matching evaluation, with its ground truth.

Everything here is invented. `build_sample_mailbox(seed, customers)` is deterministic: the same
arguments give byte-identical mail, so the bundled `data/sample-mailbox.mbox` can be checked
against it. Each message carries what a correct pipeline must make of it (the lead it holds, the
customer its thread belongs to), which `bench/evaluate_leads.py` scores the pipeline against.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from leadflow.maintenance.sample_leads import (
    adhelp_lead,
    leadpoint_lead,
    needs_review_lead,
    rengoring_nu_lead,
    website_lead,
)
from leadflow.maintenance.sample_parts import (
    COMPANIES,
    COPENHAGEN,
    OWN_ADDRESS,
    START,
    MailWriter,
    SampleCustomer,
    SampleMailbox,
    SampleMessage,
    make_customer,
    spaced_phone,
)

__all__ = [
    "OWN_ADDRESS",
    "SampleMailbox",
    "SampleMessage",
    "build_sample_mailbox",
    "bundled_mbox_path",
    "dated_sample_mailbox",
]


def _conversation(
    w: MailWriter, c: SampleCustomer, opener: SampleMessage, turns: int
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


def _phone_only_inquiry(w: MailWriter, c: SampleCustomer) -> SampleMessage:
    """A customer writing from an unknown address, signing with a known phone number."""
    alias = c.email.split("@")[0] + ".privat@" + "webspeed.dk"
    text = (
        "Hej\n\nJeg har tidligere fået hjælp af jer og vil gerne bestille igen.\n"
        f"Ring gerne på {spaced_phone(c.phone, 0)}.\n\nMvh {c.name}\n"
    )
    msg, mid, _ = w.message(
        sender=(c.name, alias), to=[("", OWN_ADDRESS)], subject="Bestilling igen", text=text
    )
    return SampleMessage(bytes(msg), mid, mid, customer_email=c.email)


def _colleague_inquiry(w: MailWriter, c: SampleCustomer) -> SampleMessage:
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


def _noise(w: MailWriter, index: int) -> SampleMessage:
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


def build_sample_mailbox(
    seed: int = 2026, customers: int = 40, *, start: datetime = START
) -> SampleMailbox:
    """Build the synthetic mailbox: leads from every platform, conversations, noise.

    `start` only moves the dates (headers and the dates written in bodies): the messages, their
    ids and the spacing between them depend on `seed` and `customers` alone.
    """
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    companies = list(COMPANIES)
    people = [
        make_customer(rng, i, company=companies[i % len(companies)] if i % 8 == 7 else None)
        for i in range(customers)
    ]
    w = MailWriter(rng, start)
    box = SampleMailbox(customers=people)
    domain_users = Counter(p.email.split("@")[1] for p in people)
    makers = ["rengoring_nu", "rengoring_nu_html", "leadpoint", "adhelp", "website"]
    for i, c in enumerate(people):
        maker = makers[i % len(makers)]
        if maker == "rengoring_nu":
            lead = rengoring_nu_lead(w, c, html=False)
        elif maker == "rengoring_nu_html":
            lead = rengoring_nu_lead(w, c, html=True)
        elif maker == "leadpoint":
            lead = leadpoint_lead(w, c)
        elif maker == "adhelp":
            lead = adhelp_lead(w, c)
        else:
            lead = website_lead(w, c)
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
            again = website_lead(w, c)  # asks again a few days later: a duplicate of the open lead
            assert again.lead is not None
            again.lead["duplicate"] = True
            box.messages.append(again)
        if i % 2 == 0:
            box.messages.append(_noise(w, i))
        if i % 20 == 19:
            box.messages.append(needs_review_lead(w))
    box.last_sent = w.clock
    return box


# A lead's body says when the platform received it a few minutes after the mail's Date.
BODY_DATE_LEAD = timedelta(minutes=5)


def dated_sample_mailbox(
    now: datetime, seed: int = 2026, customers: int = 40, *, timezone: ZoneInfo = COPENHAGEN
) -> SampleMailbox:
    """The sample mailbox moved in time so that its newest message was sent just before `now`.

    The same messages and ids as `build_sample_mailbox(seed, customers)` (so importing it again
    on a later day adds nothing), with every date shifted by one amount: the relative spacing
    is kept and the dashboard's today / 7 days / 30 days figures have data. The newest message
    stays on `now`'s day in `timezone` (a few minutes after midnight it is sent at midnight).
    """
    span = build_sample_mailbox(seed, customers).last_sent - START
    local = now.astimezone(timezone)
    midnight = datetime.combine(local.date(), time(0), tzinfo=timezone)
    # In UTC: arithmetic on a Copenhagen-zoned datetime is wall-clock time and skips or repeats
    # an hour across a clock change, which would stretch the spacing of the messages.
    end = max(now - BODY_DATE_LEAD, midnight).astimezone(UTC)
    start = (end - span).replace(second=0, microsecond=0)
    if start + span < midnight:  # the rounding must not push it back into yesterday
        start += timedelta(minutes=1)
    return build_sample_mailbox(seed, customers, start=start)


BUNDLED_MBOX = "sample-mailbox.mbox"


def bundled_mbox_path() -> Path:
    """Path of the sample mailbox shipped inside the package (the undated original)."""
    return Path(__file__).parent / "data" / BUNDLED_MBOX


if __name__ == "__main__":
    # Regenerate the bundled file: python -m leadflow.maintenance.sample_mailbox
    bundled_mbox_path().write_bytes(build_sample_mailbox().mbox_bytes())
