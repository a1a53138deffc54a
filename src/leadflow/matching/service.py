"""Thread → customer matching over the database: batched, set-based reads and bulk writes.

One in-memory customer index per run; threads are processed in batches with a fixed number of
queries per batch (never per thread). The caller owns the transaction; we only flush.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.customers.counters import refresh_counters
from leadflow.leads.responses import lock_responses, refresh_for_customers
from leadflow.matching import rules
from leadflow.matching.index_cache import CustomerIndexCache
from leadflow.matching.schemas import MatchingStats, MatchReport
from leadflow.models import Customer, Direction, EmailMessage, EmailThread, Lead, utcnow
from leadflow.settings import Settings

BATCH_SIZE = 1_000
# Bound on bind parameters per IN list (SQLite and asyncpg both cap parameters per statement).
IN_CHUNK = 2_000
# Phones are looked for in the new part of a message; quoted history beyond this adds only noise.
MAX_BODY_CHARS = 20_000
MAX_REPLY_PASSES = 10

_MATCHED, _AMBIGUOUS, _UNMATCHED = "matched", "ambiguous", "unmatched"


@dataclass(frozen=True)
class _ThreadState:
    """A candidate thread's current match columns."""

    id: int
    participants: tuple[str, ...]
    customer_id: int | None
    is_matched: bool
    matched_by: str | None
    confidence: float | None
    match_note: str | None


@dataclass
class _Outcome:
    thread_id: int
    decision: rules.MatchDecision
    # References a thread that was unmatched when looked up: a later pass may match via it.
    waits_on_reply: bool


@dataclass
class _Tally:
    by_rule: Counter[str] = field(default_factory=Counter)
    ambiguous: int = 0
    unmatched: int = 0
    changed: set[int] = field(default_factory=set)
    # Customers a thread was moved to or from: their counters are recounted at the end.
    customers: set[int] = field(default_factory=set)

    def add(self, decision: rules.MatchDecision, sign: int = 1) -> None:
        if decision.matched and decision.rule is not None:
            self.by_rule[decision.rule] += sign
        elif decision.ambiguous:
            self.ambiguous += sign
        else:
            self.unmatched += sign

    def report(self) -> MatchReport:
        by_rule = {rule: n for rule, n in self.by_rule.items() if n}
        matched = sum(by_rule.values())
        return MatchReport(
            examined=matched + self.ambiguous + self.unmatched,
            matched=matched,
            matched_by_rule=by_rule,
            ambiguous=self.ambiguous,
            unmatched=self.unmatched,
            changed=len(self.changed),
        )


async def match_threads(
    session: AsyncSession,
    *,
    settings: Settings,
    thread_ids: Sequence[int] | None = None,
    only_unmatched: bool = True,
    revisit_rules: Sequence[str] = (),
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    customers: CustomerIndexCache | None = None,
) -> MatchReport:
    """Apply the matching rules to threads (unmatched ones, or all automatic ones) and save.

    Manual links and manual unlinks are never touched. Re-running changes nothing unless
    customers or mail changed in between. `revisit_rules` adds threads matched by those rules
    to an `only_unmatched` run (new customers can make a phone or domain match ambiguous).
    `customers` (built with the same settings) saves reloading the index on every call.
    """
    now = now or utcnow()
    await session.flush()
    await lock_responses(session)  # before any thread or customer row (`leads.responses`)
    if customers is not None:
        exclusions = customers.exclusions
        index = await customers.get(session)
    else:
        exclusions = build_settings_exclusions(settings)
        index = await load_customer_index(session, exclusions=exclusions)
    tally = _Tally()
    pending: dict[int, rules.MatchDecision] = {}
    batches = _thread_batches(
        session,
        thread_ids=thread_ids,
        only_unmatched=only_unmatched,
        batch_size=batch_size,
        revisit_rules=revisit_rules,
    )
    async for rows in batches:
        for outcome in await _match_batch(session, rows, index, exclusions, now, tally):
            tally.add(outcome.decision)
            if outcome.waits_on_reply:
                pending[outcome.thread_id] = outcome.decision
    # A thread can reply to one matched later in this run (another batch, or via another reply).
    for _ in range(MAX_REPLY_PASSES):
        if not pending:
            break
        progressed = False
        still_pending: dict[int, rules.MatchDecision] = {}
        batches = _thread_batches(
            session, thread_ids=sorted(pending), only_unmatched=False, batch_size=batch_size
        )
        async for rows in batches:
            for outcome in await _match_batch(session, rows, index, exclusions, now, tally):
                before = pending[outcome.thread_id]
                if outcome.decision != before:
                    tally.add(before, -1)
                    tally.add(outcome.decision)
                    progressed = True
                if outcome.waits_on_reply:
                    still_pending[outcome.thread_id] = outcome.decision
        pending = still_pending
        if not progressed:
            break
    await session.flush()
    await refresh_counters(session, tally.customers)
    # A thread now (or no longer) linked to a customer answers (or not) that customer's leads.
    await refresh_for_customers(session, tally.customers)
    return tally.report()


def build_settings_exclusions(settings: Settings) -> rules.Exclusions:
    """The addresses matching ignores, from the settings' own domains and lead senders."""
    return rules.build_exclusions(
        own_domains=settings.own_domains, lead_senders=settings.lead_senders
    )


async def load_customer_index(
    session: AsyncSession, *, exclusions: rules.Exclusions
) -> rules.CustomerIndex:
    """Index every customer's email, phone and company domain (streamed, id/email/phone only)."""
    index = rules.CustomerIndex()
    stmt = select(Customer.id, Customer.email, Customer.phone).execution_options(yield_per=5_000)
    result = await session.stream(stmt)
    async for partition in result.partitions():
        for customer_id, email, phone in partition:
            index.add(customer_id, email=email, phone=phone, exclusions=exclusions)
    return index


_THREAD_COLUMNS = (
    EmailThread.id,
    EmailThread.participants,
    EmailThread.customer_id,
    EmailThread.is_matched,
    EmailThread.matched_by,
    EmailThread.confidence,
    EmailThread.match_note,
)


async def _thread_batches(
    session: AsyncSession,
    *,
    thread_ids: Sequence[int] | None,
    only_unmatched: bool,
    batch_size: int,
    revisit_rules: Sequence[str] = (),
) -> AsyncIterator[list[_ThreadState]]:
    """Yield candidate threads in id order, `batch_size` at a time (manual ones never)."""
    base = select(*_THREAD_COLUMNS).where(
        or_(EmailThread.matched_by.is_(None), EmailThread.matched_by != rules.MANUAL)
    )
    if only_unmatched and revisit_rules:
        base = base.where(
            or_(
                EmailThread.is_matched.is_(False),
                EmailThread.matched_by.in_([r for r in revisit_rules if r != rules.MANUAL]),
            )
        )
    elif only_unmatched:
        base = base.where(EmailThread.is_matched.is_(False))
    if thread_ids is not None:
        ids = sorted(set(thread_ids))
        for start in range(0, len(ids), batch_size):
            chunk = ids[start : start + batch_size]
            stmt = base.where(EmailThread.id.in_(chunk)).order_by(EmailThread.id)
            rows = _states((await session.execute(stmt)).all())
            if rows:
                yield rows
        return
    last_id = 0
    while True:
        stmt = base.where(EmailThread.id > last_id).order_by(EmailThread.id).limit(batch_size)
        rows = _states((await session.execute(stmt)).all())
        if not rows:
            return
        yield rows
        last_id = rows[-1].id


def _states(rows: Iterable[Any]) -> list[_ThreadState]:
    return [
        _ThreadState(
            id=row.id,
            participants=tuple(row.participants or ()),
            customer_id=row.customer_id,
            is_matched=bool(row.is_matched),
            matched_by=row.matched_by,
            confidence=row.confidence,
            match_note=row.match_note,
        )
        for row in rows
    ]


async def _match_batch(
    session: AsyncSession,
    rows: Sequence[_ThreadState],
    index: rules.CustomerIndex,
    exclusions: rules.Exclusions,
    now: datetime,
    tally: _Tally,
) -> list[_Outcome]:
    """Decide a batch of threads with a fixed number of queries and write what changed."""
    ids = [row.id for row in rows]
    leads = await lead_facts(session, ids)
    references = await thread_references(session, ids)
    referenced = await referenced_threads(
        session, {ref for refs in references.values() for ref in refs}
    )
    facts: dict[int, rules.ThreadFacts] = {}
    waits: dict[int, bool] = {}
    for row in rows:
        targets = {t for ref in references.get(row.id, ()) for t in referenced.get(ref, ())}
        others = [(tid, cid) for tid, cid in targets if tid != row.id]
        emails, lead_ids = leads.get(row.id, ((), frozenset()))
        facts[row.id] = rules.ThreadFacts(
            thread_id=row.id,
            participants=row.participants,
            matched_by=row.matched_by,
            customer_id=row.customer_id,
            lead_emails=emails,
            lead_customer_ids=lead_ids,
            reply_customer_ids=frozenset(cid for _, cid in others if cid is not None),
        )
        waits[row.id] = any(cid is None for _, cid in others)
    decisions = {tid: rules.decide(f, index, exclusions) for tid, f in facts.items()}
    # Bodies are read only for threads the stronger rules left open: most are settled by then.
    open_ids = [tid for tid, d in decisions.items() if not rules.settled_before(d, rules.PHONE)]
    if open_ids and index.by_phone:
        phones = await inbound_phones(session, open_ids)
        for tid in open_ids:
            if tid in phones:
                facts[tid] = replace(facts[tid], inbound_phones=phones[tid])
                decisions[tid] = rules.decide(facts[tid], index, exclusions)
    changes = [
        change for row in rows if (change := _change_for(row, decisions[row.id], now)) is not None
    ]
    if changes:
        await session.execute(_UPDATE_MATCH, changes)
        tally.changed.update(change["b_id"] for change in changes)
        before = {row.id: row.customer_id for row in rows}
        for change in changes:
            for customer_id in (before[change["b_id"]], change["b_customer_id"]):
                if customer_id is not None:
                    tally.customers.add(customer_id)
    return [
        _Outcome(
            thread_id=tid,
            decision=decision,
            waits_on_reply=waits[tid] and not rules.settled_before(decision, rules.REPLY_CHAIN),
        )
        for tid, decision in decisions.items()
    ]


def _change_for(
    row: _ThreadState, decision: rules.MatchDecision, now: datetime
) -> dict[str, Any] | None:
    """The thread's new match columns, or None when the decision changes nothing."""
    if decision.rule == rules.MANUAL:
        return None
    new: dict[str, Any] = {
        "customer_id": decision.customer_id,
        "is_matched": decision.matched,
        "matched_by": decision.rule if decision.matched else None,
        "confidence": decision.confidence if decision.matched else None,
        "match_note": decision.note,
    }
    if all(getattr(row, key) == value for key, value in new.items()):
        return None
    new["matched_at"] = now if decision.matched else None
    new["updated_at"] = now
    return {"b_id": row.id, **{f"b_{key}": value for key, value in new.items()}}


_MATCH_COLUMNS = (
    "customer_id",
    "is_matched",
    "matched_by",
    "confidence",
    "match_note",
    "matched_at",
    "updated_at",
)
# Core executemany: one statement per batch, without the ORM's per-row bookkeeping.
_THREADS = cast(Table, EmailThread.__table__)
_UPDATE_MATCH = (
    update(_THREADS)
    .where(_THREADS.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in _MATCH_COLUMNS})
)


async def lead_facts(
    session: AsyncSession, thread_ids: Sequence[int]
) -> dict[int, tuple[tuple[str, ...], frozenset[int]]]:
    """Per thread: emails and linked customer ids of the lead emails it holds."""
    stmt = (
        select(EmailThread.id, Lead.email, Lead.customer_id)
        .join(
            Lead,
            and_(
                Lead.mailbox_id == EmailThread.mailbox_id,
                Lead.gmail_thread_id == EmailThread.gmail_thread_id,
            ),
        )
        .where(EmailThread.id.in_(thread_ids))
    )
    emails: dict[int, set[str]] = defaultdict(set)
    customer_ids: dict[int, set[int]] = defaultdict(set)
    for thread_id, email, customer_id in (await session.execute(stmt)).all():
        if email:
            emails[thread_id].add(email)
        if customer_id is not None:
            customer_ids[thread_id].add(customer_id)
    return {
        tid: (tuple(sorted(emails.get(tid, ()))), frozenset(customer_ids.get(tid, ())))
        for tid in set(emails) | set(customer_ids)
    }


async def thread_references(
    session: AsyncSession, thread_ids: Sequence[int]
) -> dict[int, set[str]]:
    """Per thread: the Message-IDs its messages reply to or reference."""
    stmt = select(EmailMessage.thread_id, EmailMessage.in_reply_to, EmailMessage.references).where(
        EmailMessage.thread_id.in_(thread_ids)
    )
    found: dict[int, set[str]] = defaultdict(set)
    for thread_id, in_reply_to, references in (await session.execute(stmt)).all():
        found[thread_id] |= rules.message_ids(in_reply_to)
        for ref in references or ():
            if isinstance(ref, str):
                found[thread_id] |= rules.message_ids(ref)
    return found


async def referenced_threads(
    session: AsyncSession, refs: Iterable[str]
) -> dict[str, set[tuple[int, int | None]]]:
    """Message-ID → (thread id, customer id if that thread is matched) of messages holding it."""
    # Stored ids may or may not keep their angle brackets; look both up.
    variants = sorted({v for ref in refs for v in (ref, f"<{ref}>")})
    found: dict[str, set[tuple[int, int | None]]] = defaultdict(set)
    for start in range(0, len(variants), IN_CHUNK):
        stmt = (
            select(
                EmailMessage.rfc822_message_id,
                EmailThread.id,
                EmailThread.is_matched,
                EmailThread.customer_id,
            )
            .join(EmailThread, EmailThread.id == EmailMessage.thread_id)
            .where(EmailMessage.rfc822_message_id.in_(variants[start : start + IN_CHUNK]))
        )
        for rfc822_id, thread_id, is_matched, customer_id in (await session.execute(stmt)).all():
            if rfc822_id is None:
                continue
            customer = customer_id if is_matched else None
            found[rfc822_id.strip().strip("<>")].add((thread_id, customer))
    return found


async def inbound_phones(
    session: AsyncSession, thread_ids: Sequence[int]
) -> dict[int, frozenset[str]]:
    """Per thread: phone numbers written in its inbound messages."""
    stmt = select(
        EmailMessage.thread_id, func.substr(EmailMessage.body_text, 1, MAX_BODY_CHARS)
    ).where(
        EmailMessage.thread_id.in_(thread_ids),
        EmailMessage.direction == Direction.INBOUND,
        EmailMessage.body_text.is_not(None),
    )
    found: dict[int, set[str]] = defaultdict(set)
    for thread_id, body in (await session.execute(stmt)).all():
        found[thread_id] |= rules.extract_phones(body)
    return {tid: frozenset(phones) for tid, phones in found.items() if phones}


async def matching_stats(session: AsyncSession) -> MatchingStats:
    """Totals over all threads: matched per rule, unmatched, ambiguous, match rate."""
    has_note = EmailThread.match_note.is_not(None)
    stmt = select(EmailThread.is_matched, EmailThread.matched_by, has_note, func.count()).group_by(
        EmailThread.is_matched, EmailThread.matched_by, has_note
    )
    total = matched = ambiguous = 0
    by_rule: Counter[str] = Counter()
    for is_matched, matched_by, noted, count in (await session.execute(stmt)).all():
        total += count
        if is_matched:
            matched += count
            by_rule[matched_by or "unknown"] += count
        elif noted and matched_by != rules.MANUAL:
            ambiguous += count
    return MatchingStats(
        total_threads=total,
        matched=matched,
        unmatched=total - matched,
        ambiguous=ambiguous,
        matched_by_rule=dict(sorted(by_rule.items())),
        match_rate=round(matched / total, 4) if total else 0.0,
    )
