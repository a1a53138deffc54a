"""Suggested customers for threads, read from the database (the dashboard's inbox and the API).

The thread facts are gathered by the matching service's own queries (lead emails, reply chains,
phones in inbound mail), plus the senders' names. Only the customers that could come close are
loaded — by email, mailbox name, company domain, phone, id or name, in one query — and the pure
`suggestions.suggest` ranks them. A fixed number of queries for any number of threads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.db import contains_folded, escape_like, fold_case
from leadflow.matching import rules
from leadflow.matching.service import (
    build_settings_exclusions,
    inbound_phones,
    lead_facts,
    referenced_threads,
    thread_references,
)
from leadflow.matching.suggestions import DEFAULT_LIMIT, Suggestion, local_part, suggest
from leadflow.models import Customer, Direction, EmailMessage, EmailThread
from leadflow.settings import Settings

# Bound on the customers one call loads (the candidates of a page of threads are far fewer).
MAX_CANDIDATES = 500


@dataclass(frozen=True)
class ThreadSuggestions:
    by_thread: dict[int, list[Suggestion]]
    customers: dict[int, Customer]  # every suggested customer, by id


async def _sender_names(session: AsyncSession, thread_ids: Sequence[int]) -> dict[int, set[str]]:
    stmt = (
        select(EmailMessage.thread_id, EmailMessage.from_name)
        .where(
            EmailMessage.thread_id.in_(thread_ids),
            EmailMessage.direction == Direction.INBOUND,
            EmailMessage.from_name.is_not(None),
        )
        .distinct()
    )
    found: dict[int, set[str]] = defaultdict(set)
    for thread_id, name in (await session.execute(stmt)).all():
        if name and name.strip():
            found[thread_id].add(name.strip())
    return found


async def _thread_facts(
    session: AsyncSession, threads: Sequence[EmailThread]
) -> dict[int, rules.ThreadFacts]:
    ids = [thread.id for thread in threads]
    leads = await lead_facts(session, ids)
    references = await thread_references(session, ids)
    referenced = await referenced_threads(
        session, {ref for refs in references.values() for ref in refs}
    )
    phones = await inbound_phones(session, ids)
    facts = {}
    for thread in threads:
        targets = {t for ref in references.get(thread.id, ()) for t in referenced.get(ref, ())}
        emails, lead_ids = leads.get(thread.id, ((), frozenset()))
        facts[thread.id] = rules.ThreadFacts(
            thread_id=thread.id,
            participants=tuple(thread.participants or ()),
            matched_by=None,  # a manual decision is what the owner is about to revise
            customer_id=thread.customer_id,
            lead_emails=emails,
            lead_customer_ids=lead_ids,
            reply_customer_ids=frozenset(
                cid for tid, cid in targets if tid != thread.id and cid is not None
            ),
            inbound_phones=phones.get(thread.id, frozenset()),
        )
    return facts


def _candidate_filter(
    facts: Sequence[rules.ThreadFacts], names: set[str], exclusions: rules.Exclusions
) -> ColumnElement[bool] | None:
    addresses: set[str] = set()
    ids: set[int] = set()
    phones: set[str] = set()
    for fact in facts:
        addresses |= set(rules.usable_addresses(fact.participants, exclusions))
        addresses |= set(rules.usable_addresses(fact.lead_emails, exclusions))
        ids |= fact.lead_customer_ids | fact.reply_customer_ids
        phones |= fact.inbound_phones
    conditions: list[ColumnElement[bool]] = []
    if addresses:
        conditions.append(Customer.email.in_(sorted(addresses)))
    for part in sorted({p for a in addresses if (p := local_part(a)) is not None}):
        conditions.append(Customer.email.like(f"{escape_like(part)}@%", escape="\\"))
    domains = {d for a in addresses if (d := rules.domain_of(a)) is not None}
    for domain in sorted(d for d in domains if rules.is_company_domain(d, exclusions)):
        conditions.append(Customer.email.like(f"%@{escape_like(domain)}", escape="\\"))
    if phones:
        conditions.append(Customer.phone.in_(sorted(phones)))
    if ids:
        conditions.append(Customer.id.in_(sorted(ids)))
    for name in sorted(names):
        conditions.append(contains_folded(Customer.name, literal(escape_like(fold_case(name)))))
    return or_(*conditions) if conditions else None


async def suggest_customers(
    session: AsyncSession,
    *,
    threads: Sequence[EmailThread],
    settings: Settings,
    limit: int = DEFAULT_LIMIT,
) -> ThreadSuggestions:
    """Suggested customers for each of `threads` (see `suggestions.suggest`)."""
    if not threads:
        return ThreadSuggestions(by_thread={}, customers={})
    exclusions = build_settings_exclusions(settings)
    facts = await _thread_facts(session, threads)
    senders = await _sender_names(session, list(facts))
    where = _candidate_filter(
        list(facts.values()), {n for names in senders.values() for n in names}, exclusions
    )
    loaded: dict[int, Customer] = {}
    if where is not None:
        stmt = select(Customer).where(where).order_by(Customer.id).limit(MAX_CANDIDATES)
        loaded = {c.id: c for c in (await session.execute(stmt)).scalars()}
    index = rules.CustomerIndex()
    for customer in loaded.values():
        index.add(customer.id, email=customer.email, phone=customer.phone, exclusions=exclusions)
    names = {customer.id: customer.name for customer in loaded.values()}
    by_thread = {
        thread_id: suggest(
            fact,
            index,
            exclusions,
            sender_names=senders.get(thread_id, ()),
            customer_names=names,
            limit=limit,
        )
        for thread_id, fact in facts.items()
    }
    # A customer named by a lead or reply chain but gone meanwhile is not loaded: drop it.
    by_thread = {
        tid: [s for s in found if s.customer_id in loaded] for tid, found in by_thread.items()
    }
    used = {s.customer_id for found in by_thread.values() for s in found}
    return ThreadSuggestions(
        by_thread=by_thread, customers={cid: loaded[cid] for cid in sorted(used)}
    )
