"""A lead mail's content before rendering: which answers, in what order, and their reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import formataddr
from typing import Any

from tests.lead_mails import answers
from tests.lead_mails.choices import Chooser, subset
from tests.lead_mails.freetext import free_text
from tests.lead_mails.sources import (
    CONTACT,
    LEAD_FIELDS,
    QUESTIONS,
    Draft,
    Line,
    Source,
)

_MIN_FIELDS = 2  # below this no subject makes it a lead (a lead mail carries at least two)


def _label(c: Chooser, spellings: tuple[str, ...]) -> str:
    label = c.pick(spellings)
    if c.chance(5):
        return label.upper()
    return label.lower() if c.chance(5) else label


def _address(c: Chooser, p: answers.Person, with_postal: bool) -> tuple[str, dict[str, Any]]:
    """The address as written, and the street / postal code / city it must split into."""
    town = f"{p.postal} {p.city}"
    if not with_postal:
        return p.street, {"address": p.street}
    kind = c.pick(("comma", "comma", "space", "next_line", "street_only", "town_only"))
    if kind == "street_only":
        return p.street, {"address": p.street}
    parts = {"postal_code": p.postal, "city": p.city}
    if kind == "town_only":
        return town, parts
    written = {"comma": f"{p.street}, {town}", "space": f"{p.street} {town}"}.get(kind)
    return written or f"{p.street}\n{town}", {"address": p.street, **parts}


def _answer(
    c: Chooser, key: str, p: answers.Person, chosen: list[str]
) -> tuple[str, dict[str, Any]]:
    """One field's written value and what reading it must give."""
    if key == "name":
        return p.name, {"name": p.name}
    if key == "email":
        return p.email_written, {"email": p.email_written.lower()}
    if key == "phone":
        return p.phone_written, {"phone": p.phone_e164}
    if key == "address":
        return _address(c, p, with_postal="postal_city" not in chosen)
    if key == "postal_city":
        return f"{p.postal} {p.city}", {"postal_code": p.postal, "city": p.city}
    if key == "square_meters":
        written, area = answers.area(c)
        return written, {"square_meters": area}
    if key == "rooms":
        written, count = answers.rooms(c)
        return written, {"rooms": count}
    if key == "preferred_date":
        written, day = answers.preferred_date(c)
        return written, {"preferred_date": day, "preferred_date_text": written}
    if key == "received_at":
        written, instant = answers.received(c)
        return written, {"received_at": instant}
    if key == "message":
        text = free_text(c)
        return text, {"message": text}
    options = {
        "floor": answers.FLOORS,
        "property_type": answers.HOMES,
        "task_type": answers.TASKS,
        "contact_type": answers.CONTACT_TYPES,
        "domain": ("Rengøring.nu",),
    }
    value = c.pick(options[key])
    return value, {key: value}


def _chosen_fields(c: Chooser, source: Source) -> list[str]:
    chosen = subset(c, list(source.labels), 60)
    for key in ("name", "phone", "email", "message"):
        if len([k for k in chosen if k != "domain"]) >= _MIN_FIELDS:
            break
        if key in source.labels and key not in chosen:
            chosen.append(key)
    return chosen


def _blocks(c: Chooser, source: Source, lines: list[Line]) -> list[list[Line | str]]:
    """Each answer its own block, the contact answers often together under a heading."""
    contact = [line for line in lines if line.key in CONTACT]
    if not contact or c.chance(30):
        return [[line] for line in c.order(lines)]
    head: list[Line | str] = []
    if source.headings and c.chance(60):
        head.append(c.pick(source.headings))
    blocks: list[list[Line | str]] = [[line] for line in lines if line.key not in CONTACT]
    blocks.append([*head, *c.order(contact)])
    return c.order(blocks)


def draft(c: Chooser, source: Source) -> Draft:
    """A random lead of `source`: a random subset of its fields, in a random order."""
    p = answers.person(c)
    chosen = _chosen_fields(c, source)
    expected: dict[str, Any] = {name: None for name in LEAD_FIELDS}
    expected.update(source=source.display_name, details={})
    lines = []
    for key in chosen:
        label = _label(c, source.labels[key])
        written, reading = _answer(c, key, p, chosen)
        if key == "domain":
            expected["details"][label] = written
        else:
            expected.update(reading)
        lines.append(Line(key, label, written))
    for question, replies in subset(c, QUESTIONS, 15)[:2]:
        label, reply = _label(c, (question,)), c.pick(replies)
        expected["details"][label] = reply
        lines.append(Line("question", label, reply))
    sender = c.pick(source.senders)
    sent = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=c.number(0, 700 * 86_400))
    reply_to = _reply_to(c, source, sender[1], p)
    if expected["email"] is None and reply_to and source.reply_to_customer:
        expected["email"] = p.email_written.lower()
    if expected["received_at"] is None:
        expected["received_at"] = sent
    expected["needs_review"] = expected["email"] is None and expected["phone"] is None
    return Draft(
        source=source,
        sender=sender,
        subject=c.pick(source.subjects),
        sent=sent,
        reply_to=reply_to,
        blocks=_blocks(c, source, lines),
        intro=c.pick(source.intros) if c.chance(80) else "",
        footer=c.pick(source.footers) if c.chance(80) else None,
        expected=expected,
    )


def _reply_to(c: Chooser, source: Source, sender: str, p: answers.Person) -> str | None:
    if not c.chance(70):
        return None
    if source.reply_to_customer:
        return formataddr((p.name, p.email_written))
    return sender
