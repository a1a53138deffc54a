"""Build the seed's messages and thread rows (pure), one planned thread at a time.

Messages look like what the sync stores (`sync.store`): ids without angle brackets, replies with
In-Reply-To and References, labels as Gmail sets them. A thread row's aggregates are computed
from its messages the way `sync.thread_aggregates` does, and its match columns are what the
matching rules decide for it (`matching.rules`): the seed's tests run both over seeded data and
expect no change.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from leadflow.leads.response_time import MessageFacts
from leadflow.mail.mime import snippet_of
from leadflow.maintenance import seed_text as text
from leadflow.maintenance.sample_parts import FIRST, LAST
from leadflow.maintenance.seed_plan import SeedPlan, ascii_local
from leadflow.maintenance.seed_threads import Kind, ThreadPlan
from leadflow.matching import rules
from leadflow.models import Direction
from leadflow.sync.thread_aggregates import normalise_subject

GMAIL_ID_BASE = 0x18A0_0000_0000_0000
FREE_DOMAINS = ("gmail.com", "hotmail.com", "outlook.dk", "live.dk", "icloud.com")
RULE_OF = {
    Kind.LEAD: rules.LEAD,
    Kind.CONVERSATION: rules.EXACT_EMAIL,
    Kind.REPLY: rules.REPLY_CHAIN,
    Kind.PHONE: rules.PHONE,
    Kind.DOMAIN: rules.DOMAIN,
    Kind.MANUAL: rules.MANUAL,
}
MAX_REFERENCES = 10


@dataclass(frozen=True, slots=True)
class Party:
    email: str
    name: str


@dataclass(slots=True)
class _Draft:
    inbound: bool
    sender: Party
    to: Party
    subject: str
    body: str
    labels: list[str]
    reply_to: list[str] = field(default_factory=list)
    attachment: bool = False


@dataclass
class BuiltThread:
    row: dict[str, Any]
    messages: list[dict[str, Any]]


class ReferenceBook:
    """Our sent messages per customer, so that a later thread can reply to one of them."""

    def __init__(self) -> None:
        self._sent: dict[int, tuple[list[datetime], list[str]]] = defaultdict(lambda: ([], []))

    def add(self, customer_id: int, sent_at: datetime, rfc822_id: str) -> None:
        times, ids = self._sent[customer_id]
        position = bisect_left(times, sent_at)
        times.insert(position, sent_at)
        ids.insert(position, rfc822_id)

    def latest_before(self, customer_id: int, when: datetime) -> str | None:
        times, ids = self._sent.get(customer_id, ([], []))
        position = bisect_left(times, when)
        return ids[position - 1] if position else None


class MailBuilder:
    """Turns thread plans, in id order, into thread rows and message rows with ids."""

    def __init__(
        self, plan: SeedPlan, mailbox_id: int, domain_customers: dict[str, list[int]]
    ) -> None:
        self.plan = plan
        self.mailbox_id = mailbox_id
        self.domain_customers = domain_customers
        self.next_message_id = 1
        self.refs = ReferenceBook()
        self.us = Party(plan.own_address, "Rendetalje")
        # Our messages that may answer a lead (`leads.response_time`), for first_response_at.
        self.lead_emails: frozenset[str] = frozenset()
        self.replies: list[MessageFacts] = []

    def build(self, thread: ThreadPlan) -> BuiltThread:
        rng = self.plan.rng(f"thread:{thread.id}")
        kind, external = thread.kind, None
        if kind is Kind.REPLY:
            assert thread.customer is not None
            external = self.refs.latest_before(thread.customer.id, thread.start)
            if external is None:
                kind = Kind.CONVERSATION  # nothing of ours to reply to yet
        drafts = self._drafts(rng, kind, thread)
        messages = self._messages(rng, thread, drafts, external)
        if kind in (Kind.LEAD, Kind.CONVERSATION) and thread.customer is not None:
            for message in messages:
                if message["direction"] == "outbound":
                    cid = thread.customer.id
                    self.refs.add(cid, message["sent_at"], message["rfc822_message_id"])
        if thread.lead is not None:
            thread.lead.gmail_id = messages[0]["gmail_message_id"]
        row = self._thread_row(rng, kind, thread, messages)
        self._note_replies(row, messages, lead_thread=thread.lead is not None)
        return BuiltThread(row, messages)

    def _note_replies(
        self, row: dict[str, Any], messages: list[dict[str, Any]], *, lead_thread: bool
    ) -> None:
        """Keep the facts of our messages that can answer a lead (the rest cannot)."""
        for position, m in enumerate(messages):
            recipients = tuple(a.lower() for a in [*m["to_addresses"], *m["cc_addresses"]])
            relevant = (
                lead_thread
                or row["customer_id"] is not None
                or not self.lead_emails.isdisjoint(recipients)
            )
            if m["direction"] != "outbound" or not relevant:
                continue
            self.replies.append(
                MessageFacts(
                    mailbox_id=self.mailbox_id,
                    gmail_message_id=m["gmail_message_id"],
                    gmail_thread_id=row["gmail_thread_id"],
                    direction=Direction.OUTBOUND,
                    sent_at=m["sent_at"],
                    recipients=recipients,
                    thread_customer_id=row["customer_id"],
                    is_lead_source=lead_thread and position == 0,
                )
            )

    def _drafts(self, rng: random.Random, kind: Kind, thread: ThreadPlan) -> list[_Draft]:
        first, them = self._opening(rng, kind, thread)
        drafts = [first]
        base = normalise_subject(first.subject) or first.subject
        inbound = first.inbound
        for _ in range(thread.messages - 1):
            inbound = (not inbound) if rng.random() < 0.8 else inbound
            subject = rng.choice(("Re: ", "SV: ")) + base
            greeting = them.name.split(" ")[0] if them.name else ""
            if inbound:
                body = (
                    text.noise_body(rng)
                    if kind is Kind.NOISE
                    else text.customer_body(rng, greeting or "")
                )
                drafts.append(
                    _Draft(True, them, self.us, subject, body, _inbox(rng), attachment=_att(rng))
                )
            else:
                body = text.our_body(rng, greeting)
                drafts.append(_Draft(False, self.us, them, subject, body, ["SENT"]))
        return drafts

    def _opening(self, rng: random.Random, kind: Kind, thread: ThreadPlan) -> tuple[_Draft, Party]:
        """The thread's first message, and who we talk to in the rest of it."""
        c = thread.customer
        if kind is Kind.LEAD:
            assert thread.lead is not None
            assert c is not None
            sender, subject, body, reply_to = text.lead_mail(thread.lead, self.plan.own_domain)
            them = Party(c.email, c.name)
            labels = ["CATEGORY_UPDATES", "INBOX"]
            draft = _Draft(True, Party(sender[1], sender[0]), self.us, subject, body, labels)
            if reply_to:
                draft.reply_to = [c.email]
            return draft, them
        if kind is Kind.CONVERSATION:
            assert c is not None
            them = Party(c.email, c.name)
            subject = text.customer_subject(rng, c)
            if rng.random() < 0.3:
                body = text.our_body(rng, c.first)
                return _Draft(False, self.us, them, subject, body, ["SENT"]), them
            body = text.customer_body(rng, c.first)
            return _Draft(
                True, them, self.us, subject, body, _inbox(rng), attachment=_att(rng)
            ), them
        if kind is Kind.NOISE:
            name, address, subject = rng.choice(text.NOISE)
            them = Party(address, name)
            if rng.random() < 0.3:
                them = _stranger(rng, thread.id)
                subject = rng.choice(text.CUSTOMER_SUBJECTS)
            labels = ["CATEGORY_PROMOTIONS", "INBOX"] if "nyhed" in address else _inbox(rng)
            return _Draft(True, them, self.us, subject, text.noise_body(rng), labels), them
        if kind in (Kind.DOMAIN, Kind.AMBIGUOUS):
            domain = thread.domain if kind is Kind.AMBIGUOUS else (c.domain if c else None)
            assert domain is not None
            role = rng.choice(text.ROLES)
            them = Party(f"{role}@{domain}", role.capitalize())
            body = text.company_body(rng, them.name)
            subject = text.customer_subject(rng, c)
            return _Draft(True, them, self.us, subject, body, _inbox(rng)), them
        assert c is not None  # reply, phone, manual: someone we do not know by address
        them = _stranger(rng, thread.id)
        phone = c.phone if kind is Kind.PHONE else None
        body = text.customer_body(rng, them.name.split(" ")[0], with_phone=phone)
        subject = text.customer_subject(rng, c)
        return _Draft(True, them, self.us, subject, body, _inbox(rng)), them

    def _messages(
        self, rng: random.Random, thread: ThreadPlan, drafts: list[_Draft], external: str | None
    ) -> list[dict[str, Any]]:
        anchor = self.plan.anchor
        sent = thread.start
        chain: list[str] = [external] if external else []
        rows: list[dict[str, Any]] = []
        for position, draft in enumerate(drafts):
            if position:
                gap = 60 + int(rng.expovariate(1 / 36_000))
                if position == 1 and thread.lead is not None and not draft.inbound:
                    gap = _answer_gap(rng)
                room = (anchor - sent).total_seconds()
                if gap >= room:
                    # A thread still going at the anchor: squeeze the rest in before it (not onto
                    # it, which would give hundreds of threads the very same last message time).
                    gap = int(room * rng.uniform(0.2, 0.8))
                sent += timedelta(seconds=gap)
            mid = self.next_message_id
            self.next_message_id += 1
            domain = draft.sender.email.rpartition("@")[2]
            host = "mail.gmail.com" if domain in FREE_DOMAINS else domain
            rfc822_id = f"{rng.getrandbits(48):012x}.{mid}@{host}"
            labels = sorted(
                set(draft.labels) | ({"UNREAD"} if _unread(draft, sent, anchor) else set())
            )
            attachments = (
                [
                    {
                        "filename": f"billede_{mid}.jpg",
                        "mime_type": "image/jpeg",
                        "size_bytes": 48_211,
                    }
                ]
                if draft.attachment
                else []
            )
            rows.append(
                {
                    "id": mid,
                    "thread_id": thread.id,
                    "mailbox_id": self.mailbox_id,
                    "gmail_message_id": f"{GMAIL_ID_BASE + mid:016x}",
                    "rfc822_message_id": rfc822_id,
                    "in_reply_to": chain[-1] if chain else None,
                    "references": chain[-MAX_REFERENCES:],
                    "from_address": draft.sender.email,
                    "from_name": draft.sender.name or None,
                    "to_addresses": [draft.to.email],
                    "cc_addresses": [],
                    "reply_to_addresses": list(draft.reply_to),
                    "subject": draft.subject,
                    "body_text": draft.body,
                    "body_truncated": False,
                    "snippet": _snippet(draft.body),
                    "direction": "inbound" if draft.inbound else "outbound",
                    "labels": labels,
                    "has_attachments": bool(attachments),
                    "attachments": attachments,
                    "size_bytes": 1_800 + len(draft.body.encode()) + (64_000 if attachments else 0),
                    "sent_at": sent,
                    "history_id": str(10_000_000 + mid),
                    "created_at": min(sent + timedelta(seconds=rng.randint(5, 600)), anchor),
                }
            )
            chain.append(rfc822_id)
        return rows

    def _thread_row(
        self, rng: random.Random, kind: Kind, thread: ThreadPlan, messages: list[dict[str, Any]]
    ) -> dict[str, Any]:
        participants: dict[str, None] = {}
        labels: set[str] = set()
        for m in messages:
            for address in (m["from_address"], *m["to_addresses"], *m["reply_to_addresses"]):
                participants.setdefault(address.lower(), None)
            labels.update(m["labels"])
        first, last = messages[0], messages[-1]
        customer_id = thread.customer.id if thread.customer else None
        rule = RULE_OF.get(kind)
        matched_at = first["created_at"]
        if kind is Kind.MANUAL:
            matched_at = min(matched_at + timedelta(hours=rng.randint(1, 48)), self.plan.anchor)
        note = None
        if kind is Kind.AMBIGUOUS:
            # The domain rule's own wording for a conflict (matching.rules.decide).
            ids = sorted(self.domain_customers[thread.domain or ""])
            note = f"{rules.DOMAIN}: {len(ids)} candidates (ids {', '.join(map(str, ids))})"
        return {
            "id": thread.id,
            "mailbox_id": self.mailbox_id,
            "gmail_thread_id": first["gmail_message_id"],
            "customer_id": customer_id if rule else None,
            "subject": normalise_subject(first["subject"]),
            "snippet": last["snippet"],
            "participants": list(participants),
            "labels": sorted(labels),
            "message_count": len(messages),
            "last_message_at": last["sent_at"],
            "is_matched": rule is not None,
            "matched_at": matched_at if rule else None,
            "matched_by": rule,
            "confidence": rules.CONFIDENCE.get(rule, 1.0) if rule else None,
            "match_note": note,
            "created_at": first["created_at"],
            "updated_at": last["created_at"],
        }


# How fast a lead gets its first answer: log-normal around 40 minutes, one in ten waiting more
# than about three hours (the spread lead platforms report for small service businesses).
ANSWER_MEDIAN_SECONDS = 40 * 60
ANSWER_SPREAD = 1.2


def _answer_gap(rng: random.Random) -> int:
    return 60 + int(rng.lognormvariate(math.log(ANSWER_MEDIAN_SECONDS), ANSWER_SPREAD))


@lru_cache(maxsize=200_000)
def _snippet(body: str) -> str:
    # Bodies repeat (they are built from a few dozen sentences): parse each text once.
    return snippet_of(body)


def _inbox(rng: random.Random) -> list[str]:
    return ["IMPORTANT", "INBOX"] if rng.random() < 0.3 else ["INBOX"]


def _att(rng: random.Random) -> bool:
    return rng.random() < 0.04


def _unread(draft: _Draft, sent: datetime, anchor: datetime) -> bool:
    return draft.inbound and anchor - sent < timedelta(days=2)


def _stranger(rng: random.Random, thread_id: int) -> Party:
    """Someone no customer record knows: the underscore keeps them apart from customers' emails."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{ascii_local(first)}_{ascii_local(last)}{thread_id}"
    return Party(f"{local}@{rng.choice(FREE_DOMAINS)}", f"{first} {last}")
