"""Plan the seed's email threads (pure): what each thread is about, when it starts, how long it is.

One thread per lead (the platform's notification and the conversation that follows). The other
threads are shaped so that each matching rule has work: a customer writing from their own
address (exact_email), from another address in reply to our mail (reply_chain), giving their
phone number (phone), a colleague at their company's domain (domain), a domain several customers
share (ambiguous, left unmatched), threads linked by hand (manual), and mail from nobody we know
(noise; mostly recent, since old noise gets handled or ignored). Heavy customers get hundreds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from leadflow.maintenance.seed_people import SeedCustomer, SeedLead
from leadflow.maintenance.seed_plan import HISTORY, SeedPlan, recent_skewed

MAX_MESSAGES = 120
NOISE_SPAN = timedelta(days=120)


class Kind(StrEnum):
    LEAD = "lead"
    CONVERSATION = "conversation"
    REPLY = "reply"
    PHONE = "phone"
    DOMAIN = "domain"
    AMBIGUOUS = "ambiguous"
    MANUAL = "manual"
    NOISE = "noise"


# Shares of the threads that are not lead threads; noise takes what is left.
SHARES = {
    Kind.CONVERSATION: 0.55,
    Kind.REPLY: 0.06,
    Kind.PHONE: 0.05,
    Kind.DOMAIN: 0.05,
    Kind.AMBIGUOUS: 0.03,
    Kind.MANUAL: 0.01,
}
# Mean messages per thread by kind; conversations take the rest of the message budget.
MEAN_MESSAGES = {
    Kind.LEAD: 4.0,
    Kind.REPLY: 2.5,
    Kind.PHONE: 2.5,
    Kind.DOMAIN: 2.5,
    Kind.AMBIGUOUS: 2.5,
    Kind.MANUAL: 2.5,
    Kind.NOISE: 1.2,
}


@dataclass(slots=True)
class ThreadPlan:
    kind: Kind
    start: datetime
    messages: int
    customer: SeedCustomer | None = None
    lead: SeedLead | None = None
    domain: str | None = None  # the shared domain of an ambiguous thread
    id: int = 0


def plan_threads(
    plan: SeedPlan, customers: list[SeedCustomer], leads: list[SeedLead]
) -> list[ThreadPlan]:
    """Every thread, ids in order of the thread's first message."""
    rng = plan.rng("threads")
    first_lead: dict[int, datetime] = {}
    for lead in leads:
        first_lead.setdefault(lead.customer.id, lead.received_at)
    threads = [
        ThreadPlan(Kind.LEAD, lead.received_at, 0, customer=lead.customer, lead=lead)
        for lead in leads
    ]
    others = plan.scale.threads - len(leads)
    for kind, count in _kind_counts(others).items():
        pool, weights = _pool(kind, customers)
        # One weighted draw per kind: drawing thread by thread re-sums the weights each time.
        chosen = rng.choices(pool, weights=weights, k=count) if pool else [None] * count
        threads.extend(_plan_one(rng, plan, kind, c, first_lead) for c in chosen)
    _assign_lengths(rng, threads, plan.scale.messages)
    threads.sort(key=lambda t: (t.start, t.kind != Kind.LEAD, t.lead.id if t.lead else 0))
    for position, thread in enumerate(threads):
        thread.id = position + 1
    return threads


def _kind_counts(others: int) -> dict[Kind, int]:
    counts = {kind: int(others * share) for kind, share in SHARES.items()}
    counts[Kind.NOISE] = others - sum(counts.values())
    return counts


def _pool(kind: Kind, customers: list[SeedCustomer]) -> tuple[list[SeedCustomer], list[float]]:
    """The customers a thread of `kind` can be about, with their weights."""
    if kind is Kind.NOISE:
        return [], []
    if kind is Kind.DOMAIN:
        pool = [c for c in customers if c.domain and not c.shared_domain]
    elif kind is Kind.AMBIGUOUS:
        return [c for c in customers if c.shared_domain], [1.0] * sum(
            1 for c in customers if c.shared_domain
        )
    else:
        pool = customers
    return pool, [c.weight for c in pool]


def _plan_one(
    rng: random.Random,
    plan: SeedPlan,
    kind: Kind,
    customer: SeedCustomer | None,
    first_lead: dict[int, datetime],
) -> ThreadPlan:
    if customer is None:
        # Noise, or a scale too small for this kind (no company customers): noise instead.
        return ThreadPlan(Kind.NOISE, recent_skewed(rng, plan.anchor, NOISE_SPAN, 2.0), 0)
    if kind is Kind.AMBIGUOUS:
        start = recent_skewed(rng, plan.anchor, HISTORY, 1.0)
        return ThreadPlan(kind, start, 0, domain=customer.domain)
    since = first_lead.get(customer.id, plan.anchor - HISTORY)
    span = max((plan.anchor - since).total_seconds(), 60.0)
    start = since + timedelta(seconds=1 + int(rng.random() * span))
    return ThreadPlan(kind, min(start, plan.anchor), 0, customer=customer)


def _assign_lengths(rng: random.Random, threads: list[ThreadPlan], budget: int) -> None:
    """Messages per thread: about `budget` in all, a long tail, at least one each."""
    fixed = sum(MEAN_MESSAGES[t.kind] for t in threads if t.kind is not Kind.CONVERSATION)
    conversations = sum(1 for t in threads if t.kind is Kind.CONVERSATION)
    conversation_mean = max(1.0, (budget - fixed) / conversations) if conversations else 1.0
    for thread in threads:
        mean = MEAN_MESSAGES.get(thread.kind, conversation_mean)
        extra = rng.expovariate(1.0 / (mean - 1.0)) if mean > 1.0 else 0.0
        thread.messages = min(MAX_MESSAGES, 1 + int(extra + 0.5))
