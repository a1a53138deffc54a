"""When the business first answered a lead: the rule, as pure functions over plain facts.

A message answers a lead when all of these hold:
- it is outbound (`email_messages.direction`, decided at parse time from the SENT label and
  `LEADFLOW_OWN_DOMAINS`, see `mail.mime.parse.direction_of`);
- it is not itself a lead's notification mail: the website form mails from an own domain and
  is therefore outbound too, but it is the question, not the answer;
- it was sent after the lead arrived (`sent_at > received_at`; undated messages never count);
- it belongs to the lead: it is in the lead's thread (same mailbox and Gmail thread), or in a
  thread linked to the lead's customer, or the lead's email address is among its To/Cc.

`first_response_at` is the earliest `sent_at` among the messages that answer the lead, or None.
The result depends only on the final set of stored messages and the lead's own fields, never
on the order in which they arrived: the services recompute it from that state after every
change (`leads.responses`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from leadflow.matching.rules import normalise_email
from leadflow.models.enums import Direction, LeadStatus

# Leads that count as waiting for a reply: only `new` ones. A person who moves a lead on to
# contacted or quoted has answered it by other means (a phone call, a quote from another tool);
# won, lost and spam are closed. The partial index ix_leads_awaiting_reply_received_at agrees.
AWAITING_STATUS = LeadStatus.NEW


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What the rule needs of one lead."""

    id: int
    received_at: datetime | None
    mailbox_id: int | None = None
    gmail_thread_id: str | None = None
    email: str | None = None
    customer_id: int | None = None


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What the rule needs of one stored message (and of the thread it is in)."""

    mailbox_id: int
    gmail_message_id: str
    gmail_thread_id: str
    direction: Direction
    sent_at: datetime | None
    recipients: tuple[str, ...] = ()  # To and Cc, lower-cased
    thread_customer_id: int | None = None
    is_lead_source: bool = False


def answers(lead: LeadFacts, message: MessageFacts) -> bool:
    """True when `message` is a reply from the business to `lead` (the module's rule)."""
    if message.direction != Direction.OUTBOUND or message.is_lead_source:
        return False
    if message.sent_at is None or lead.received_at is None or message.sent_at <= lead.received_at:
        return False
    same_thread = (
        lead.gmail_thread_id is not None
        and message.mailbox_id == lead.mailbox_id
        and message.gmail_thread_id == lead.gmail_thread_id
    )
    same_customer = lead.customer_id is not None and message.thread_customer_id == lead.customer_id
    address = normalise_email(lead.email)
    to_lead = address is not None and address in message.recipients
    return same_thread or same_customer or to_lead


def first_response_at(lead: LeadFacts, messages: Iterable[MessageFacts]) -> datetime | None:
    """The earliest `sent_at` of the messages that answer `lead`, or None."""
    times = [m.sent_at for m in messages if m.sent_at is not None and answers(lead, m)]
    return min(times, default=None)


@dataclass
class ResponseIndex:
    """Outbound messages grouped by the ways they can belong to a lead, for many leads at once."""

    by_thread: dict[tuple[int, str], list[MessageFacts]] = field(
        default_factory=lambda: defaultdict(list)
    )
    by_customer: dict[int, list[MessageFacts]] = field(default_factory=lambda: defaultdict(list))
    by_address: dict[str, list[MessageFacts]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def build(cls, messages: Iterable[MessageFacts]) -> ResponseIndex:
        index = cls()
        seen: set[tuple[int, str]] = set()
        for message in messages:
            key = (message.mailbox_id, message.gmail_message_id)
            if message.direction != Direction.OUTBOUND or key in seen:
                continue
            seen.add(key)
            index.by_thread[(message.mailbox_id, message.gmail_thread_id)].append(message)
            if message.thread_customer_id is not None:
                index.by_customer[message.thread_customer_id].append(message)
            for address in set(message.recipients):
                index.by_address[address].append(message)
        return index

    def candidates(self, lead: LeadFacts) -> list[MessageFacts]:
        """The messages that may answer `lead` (a superset; `answers` decides)."""
        found: list[MessageFacts] = []
        if lead.mailbox_id is not None and lead.gmail_thread_id is not None:
            found += self.by_thread.get((lead.mailbox_id, lead.gmail_thread_id), [])
        if lead.customer_id is not None:
            found += self.by_customer.get(lead.customer_id, [])
        address = normalise_email(lead.email)
        if address is not None:
            found += self.by_address.get(address, [])
        return found


def first_responses(
    leads: Sequence[LeadFacts], messages: Iterable[MessageFacts]
) -> dict[int, datetime | None]:
    """`first_response_at` of each lead (by id), from one pass over the candidate messages."""
    index = ResponseIndex.build(messages)
    return {lead.id: first_response_at(lead, index.candidates(lead)) for lead in leads}


def response_seconds(received_at: datetime | None, first_response: datetime | None) -> int | None:
    """Whole seconds from a lead's arrival to the first answer; None while unanswered."""
    if received_at is None or first_response is None:
        return None
    return max(0, int((first_response - received_at).total_seconds()))


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The `fraction` quantile of `values` by linear interpolation (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def changed(
    current: Mapping[int, datetime | None], computed: Mapping[int, datetime | None]
) -> dict[int, datetime | None]:
    """The computed values that differ from the stored ones."""
    return {lid: value for lid, value in computed.items() if current.get(lid) != value}
