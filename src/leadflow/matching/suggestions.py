"""Suggested customers for a thread the rules left unmatched: the rules' near misses (pure).

The rules match only when exactly one customer fits (`rules.decide`). For the owner deciding
by hand, everything that came close is worth showing:

- every rule's candidates, not only the first rule's: a rule that found several customers
  (an ambiguous match) and the weaker rules after it;
- the same mailbox name at another domain (`birthe.hansen@gmail.com` for a customer with
  `birthe.hansen@hotmail.com`), when the name is long and not a generic one like `info`;
- a customer with exactly the sender's name (letters folded: Ø = ø).

`suggest` ranks them: a rule's confidence, lowered when that rule found several customers,
plus a little for every further reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from leadflow.matching import rules

SAME_LOCAL_PART = "same_local_part"
SAME_NAME = "same_name"
NEAR_MISS_SCORE: Mapping[str, float] = {SAME_LOCAL_PART: 0.6, SAME_NAME: 0.5}
# A rule that pointed at several customers says less about each of them.
SHARED_FACTOR = 0.75
EXTRA_REASON_BONUS = 0.05
MIN_LOCAL_PART = 5
GENERIC_LOCAL_PARTS = frozenset(
    {
        "info",
        "kontakt",
        "contact",
        "mail",
        "post",
        "admin",
        "office",
        "kontor",
        "support",
        "service",
        "salg",
        "sales",
        "noreply",
        "no-reply",
        "booking",
        "regnskab",
        "faktura",
        "bogholderi",
        "hello",
        "hej",
    }
)
DEFAULT_LIMIT = 5


@dataclass(frozen=True)
class Suggestion:
    customer_id: int
    score: float
    reasons: tuple[str, ...]  # rule names and near-miss kinds, strongest first


def fold_name(name: str | None) -> str | None:
    """A name compared the way the customer search compares: case-folded, spaces squeezed."""
    if not name:
        return None
    folded = " ".join(name.casefold().split())
    return folded or None


def local_part(address: str) -> str | None:
    """The distinctive mailbox name of a normalised address, or None for a generic/short one."""
    local, sep, _domain = address.rpartition("@")
    local = local.split("+", 1)[0]
    if not sep or len(local) < MIN_LOCAL_PART or local in GENERIC_LOCAL_PARTS:
        return None
    return local


def suggest(
    facts: rules.ThreadFacts,
    index: rules.CustomerIndex,
    exclusions: rules.Exclusions,
    *,
    sender_names: Iterable[str] = (),
    customer_names: Mapping[int, str | None] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Suggestion]:
    """The customers that came close to matching the thread, best first (at most `limit`).

    `index` needs to hold only the customers that could come close (the service loads those);
    `customer_names` are their names, for comparing with `sender_names` (the thread's senders).
    The thread's own customer is never suggested.
    """
    scores: dict[int, float] = defaultdict(float)
    reasons: dict[int, list[str]] = defaultdict(list)

    def add(customer_ids: Iterable[int], reason: str, score: float) -> None:
        for customer_id in customer_ids:
            if customer_id == facts.customer_id or reason in reasons[customer_id]:
                continue
            reasons[customer_id].append(reason)
            scores[customer_id] = max(scores[customer_id], score)

    participants = rules.usable_addresses(facts.participants, exclusions)
    for rule in rules.RULE_ORDER:
        found = rules.candidates(rule, facts, participants, index, exclusions)
        confidence = rules.CONFIDENCE[rule]
        add(sorted(found), rule, confidence if len(found) == 1 else confidence * SHARED_FACTOR)
    addresses = {*participants, *rules.usable_addresses(facts.lead_emails, exclusions)}
    wanted = {part for address in addresses if (part := local_part(address)) is not None}
    if wanted:
        near = [
            customer_id
            for address, ids in sorted(index.by_email.items())
            if address not in addresses and local_part(address) in wanted
            for customer_id in sorted(ids)
        ]
        add(near, SAME_LOCAL_PART, NEAR_MISS_SCORE[SAME_LOCAL_PART])
    names = {folded for name in sender_names if (folded := fold_name(name)) is not None}
    if names and customer_names:
        same = [cid for cid, name in sorted(customer_names.items()) if fold_name(name) in names]
        add(same, SAME_NAME, NEAR_MISS_SCORE[SAME_NAME])
    ranked = [
        Suggestion(
            customer_id=customer_id,
            score=round(min(1.0, scores[customer_id] + EXTRA_REASON_BONUS * (len(found) - 1)), 4),
            reasons=tuple(found),
        )
        for customer_id, found in reasons.items()
        if found
    ]
    ranked.sort(key=lambda s: (-s.score, s.customer_id))
    return ranked[:limit]
