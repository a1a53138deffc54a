"""Thread → customer matching rules: pure functions over plain data (issue #4).

Precision first: a wrong match is worse than none. Rules run in order; the first rule that finds
any candidate decides. One candidate matches; two or more leave the thread unmatched with a note,
and weaker rules are not consulted (a weaker rule must not "resolve" a stronger rule's conflict).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import translate
from functools import lru_cache

import phonenumbers

from leadflow.phones import to_e164

MANUAL = "manual"
LEAD = "lead"
EXACT_EMAIL = "exact_email"
REPLY_CHAIN = "reply_chain"
PHONE = "phone"
DOMAIN = "domain"

RULE_ORDER = (LEAD, EXACT_EMAIL, REPLY_CHAIN, PHONE, DOMAIN)
CONFIDENCE: Mapping[str, float] = {
    LEAD: 1.0,
    EXACT_EMAIL: 1.0,
    REPLY_CHAIN: 0.95,
    PHONE: 0.9,
    DOMAIN: 0.8,
}

# Lead platforms and aggregators: their addresses are never a customer's, whatever the settings say.
PLATFORM_DOMAINS = frozenset({"leadmail.no", "leadpoint.dk", "adhelp.dk"})

# Providers where one domain is shared by unrelated people, so a domain says nothing about who.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "hotmail.com",
        "hotmail.dk",
        "outlook.com",
        "outlook.dk",
        "live.dk",
        "live.com",
        "msn.com",
        "yahoo.com",
        "yahoo.dk",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "mail.dk",
        "jubii.dk",
        "protonmail.com",
        "protonmail.ch",
        "proton.me",
        "pm.me",
        "aol.com",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "web.de",
        "webspeed.dk",
        "stofanet.dk",
        "youmail.dk",
        "privat.dk",
        "get2net.dk",
        "ofir.dk",
        "tdcadsl.dk",
        "email.dk",
        "post.tele.dk",
        "mail.tele.dk",
        "tele2adsl.dk",
        "city.dk",
        "c.dk",
        "paradis.dk",
        "image.dk",
        "forum.dk",
        "kabelmail.dk",
        "fibermail.dk",
        "comxnet.dk",
        "mail.com",
        "zoho.com",
        "yandex.com",
        "hey.com",
        "fastmail.com",
    }
)


@dataclass(frozen=True)
class Exclusions:
    """Addresses that never identify a customer: our own domains, lead platforms, aggregators."""

    own_domains: frozenset[str] = frozenset()
    platform_domains: frozenset[str] = PLATFORM_DOMAINS
    sender_patterns: tuple[str, ...] = ()
    _patterns: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One compiled alternation: runs once per address instead of once per pattern.
        compiled = re.compile("|".join(translate(p) for p in self.sender_patterns))
        object.__setattr__(self, "_patterns", compiled if self.sender_patterns else None)

    def excludes(self, address: str) -> bool:
        """True when `address` (normalised) belongs to us, a lead platform or an aggregator."""
        domain = domain_of(address)
        if domain is None:
            return True
        if _in_domains(domain, self.own_domains) or _in_domains(domain, self.platform_domains):
            return True
        return self._patterns is not None and self._patterns.match(address) is not None


def build_exclusions(
    *, own_domains: Iterable[str], lead_senders: Mapping[str, Iterable[str]]
) -> Exclusions:
    """Exclusions from the settings' own domains and lead sender patterns."""
    patterns = tuple(
        sorted({p.strip().lower() for ps in lead_senders.values() for p in ps if p.strip()})
    )
    return Exclusions(
        own_domains=frozenset(d.strip().lower() for d in own_domains if d.strip()),
        sender_patterns=patterns,
    )


def _in_domains(domain: str, domains: frozenset[str]) -> bool:
    if domain in domains:
        return True
    # Subdomains: mail.rendetalje.dk is ours too. Walk the suffixes instead of every listed domain.
    parts = domain.split(".")
    return any(".".join(parts[i:]) in domains for i in range(1, len(parts) - 1))


def normalise_email(raw: str | None) -> str | None:
    """Return the address trimmed and lower-cased, or None when it is not an address."""
    if raw is None:
        return None
    address = raw.strip().strip("<>").strip().lower()
    if address.count("@") != 1 or address.startswith("@") or address.endswith("@"):
        return None
    return address


def domain_of(address: str) -> str | None:
    """Return the domain part of a normalised address."""
    _, sep, domain = address.rpartition("@")
    if not sep:
        return None
    return domain.strip(".") or None


def is_company_domain(domain: str, exclusions: Exclusions) -> bool:
    """True when a domain can identify one customer: not free-mail, not ours, not a platform."""
    if _in_domains(domain, FREE_MAIL_DOMAINS):
        return False
    return not (
        _in_domains(domain, exclusions.own_domains)
        or _in_domains(domain, exclusions.platform_domains)
    )


@dataclass
class CustomerIndex:
    """Lookups from normalised email, E.164 phone and company domain to customer ids."""

    by_email: dict[str, set[int]] = field(default_factory=dict)
    by_phone: dict[str, set[int]] = field(default_factory=dict)
    by_domain: dict[str, set[int]] = field(default_factory=dict)

    def add(
        self, customer_id: int, *, email: str | None, phone: str | None, exclusions: Exclusions
    ) -> None:
        """Index one customer; addresses we never match on are left out."""
        address = normalise_email(email)
        if address is not None and not exclusions.excludes(address):
            self.by_email.setdefault(address, set()).add(customer_id)
            domain = domain_of(address)
            if domain is not None and is_company_domain(domain, exclusions):
                self.by_domain.setdefault(domain, set()).add(customer_id)
        e164 = phone if phone and phone.startswith("+") else to_e164(phone)
        if e164 is not None:
            self.by_phone.setdefault(e164, set()).add(customer_id)

    def discard(
        self, customer_id: int, *, email: str | None, phone: str | None, exclusions: Exclusions
    ) -> None:
        """Undo `add` for a customer indexed with `email` and `phone`."""
        address = normalise_email(email)
        keys: list[tuple[dict[str, set[int]], str | None]] = [
            (self.by_email, address),
            (self.by_domain, domain_of(address) if address else None),
            (self.by_phone, phone if phone and phone.startswith("+") else to_e164(phone)),
        ]
        for lookup, key in keys:
            if key is None or key not in lookup:
                continue
            lookup[key].discard(customer_id)
            if not lookup[key]:
                del lookup[key]


@dataclass(frozen=True)
class ThreadFacts:
    """What the rules need to know about one thread, gathered by the service."""

    thread_id: int
    participants: tuple[str, ...] = ()
    matched_by: str | None = None
    customer_id: int | None = None
    lead_emails: tuple[str, ...] = ()
    lead_customer_ids: frozenset[int] = frozenset()
    # Customers of *other* threads holding a message this thread's messages reply to/reference.
    reply_customer_ids: frozenset[int] = frozenset()
    inbound_phones: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MatchDecision:
    """A rule's verdict. `rule` set with no customer means that rule found a conflict."""

    customer_id: int | None
    rule: str | None
    confidence: float | None
    note: str | None

    @property
    def matched(self) -> bool:
        return self.customer_id is not None

    @property
    def ambiguous(self) -> bool:
        return self.customer_id is None and self.rule is not None


NO_MATCH = MatchDecision(customer_id=None, rule=None, confidence=None, note=None)


def decide(facts: ThreadFacts, index: CustomerIndex, exclusions: Exclusions) -> MatchDecision:
    """Apply the rules in order and return the first rule's verdict (or no match)."""
    if facts.matched_by == MANUAL:
        return MatchDecision(
            customer_id=facts.customer_id,
            rule=MANUAL,
            confidence=1.0 if facts.customer_id is not None else None,
            note=None,
        )
    participants = usable_addresses(facts.participants, exclusions)
    for rule in RULE_ORDER:
        found = candidates(rule, facts, participants, index, exclusions)
        if len(found) == 1:
            return MatchDecision(
                customer_id=next(iter(found)), rule=rule, confidence=CONFIDENCE[rule], note=None
            )
        if found:
            ids = ", ".join(str(i) for i in sorted(found))
            note = f"{rule}: {len(found)} candidates (ids {ids})"
            return MatchDecision(customer_id=None, rule=rule, confidence=None, note=note)
    return NO_MATCH


def candidates(
    rule: str,
    facts: ThreadFacts,
    participants: Sequence[str],
    index: CustomerIndex,
    exclusions: Exclusions,
) -> set[int]:
    """The customers one rule points at; `participants` already normalised and filtered."""
    if rule == LEAD:
        found = set(facts.lead_customer_ids)
        return found | email_candidates(usable_addresses(facts.lead_emails, exclusions), index)
    if rule == EXACT_EMAIL:
        return email_candidates(participants, index)
    if rule == REPLY_CHAIN:
        return set(facts.reply_customer_ids)
    if rule == PHONE:
        return phone_candidates(facts.inbound_phones, index)
    if rule == DOMAIN:
        return domain_candidates(participants, index, exclusions)
    raise ValueError(f"unknown rule {rule!r}")


def settled_before(decision: MatchDecision, rule: str) -> bool:
    """True when a rule stronger than `rule` (or a manual link) made the decision."""
    if decision.rule == MANUAL:
        return True
    if decision.rule is None:
        return False
    return RULE_ORDER.index(decision.rule) < RULE_ORDER.index(rule)


def usable_addresses(raw: Iterable[str], exclusions: Exclusions) -> tuple[str, ...]:
    """Addresses normalised, without ours, lead platforms' and aggregators'."""
    usable = []
    for item in raw:
        address = normalise_email(item)
        if address is not None and not exclusions.excludes(address):
            usable.append(address)
    return tuple(usable)


def email_candidates(addresses: Iterable[str], index: CustomerIndex) -> set[int]:
    """Customers whose email is one of the (usable) `addresses`."""
    found: set[int] = set()
    for address in addresses:
        found |= index.by_email.get(address, set())
    return found


def phone_candidates(phones: Iterable[str], index: CustomerIndex) -> set[int]:
    """Customers whose E.164 phone is one of `phones`."""
    found: set[int] = set()
    for phone in phones:
        found |= index.by_phone.get(phone, set())
    return found


def domain_candidates(
    addresses: Iterable[str], index: CustomerIndex, exclusions: Exclusions
) -> set[int]:
    """Customers sharing a (usable) address's company domain; several customers is a conflict."""
    found: set[int] = set()
    for address in addresses:
        domain = domain_of(address)
        if domain is not None and is_company_domain(domain, exclusions):
            found |= index.by_domain.get(domain, set())
    return found


# Danish numbers: optional +45/0045/(+45), then 8 digits as 12345678, 12 34 56 78 or 1234 5678.
_PHONE_RE = re.compile(
    r"(?<![\w+])(?<![\d+][ .-])"
    r"(?P<prefix>(?:\+|00)\s?45[ .-]?|\(\+?45\)\s?)?"
    r"(?P<number>\d{8}|\d{2}(?:[ .-]\d{2}){3}|\d{4}[ .-]\d{4})"
    r"(?![ .-]?\d)"
)
# Numbers after these words are registration or order numbers, not phones.
_NOT_PHONE_CONTEXT = re.compile(
    r"\b(cvr|cvr-?nr|se-?nr|se nr|p-?nr|reg|reg\.? ?nr|konto|konto-?nr|faktura|faktura-?nr|"
    r"ordre|ordre-?nr|sags-?nr|kunde-?nr)\.?"
    r"[\s.:#-]*$",
    re.IGNORECASE,
)
_MESSAGE_ID_RE = re.compile(r"<([^<>\s]+)>")
_QUOTE_HEADER_RE = re.compile(
    r"^\s*(?:(?:on|den|d\.|am|le)\b.{0,200}\b(?:wrote|skrev|schrieb|a écrit)\s*:?\s*$"
    r"|-{2,}\s*(?:original message|oprindelig meddelelse|videresendt meddelelse|"
    r"forwarded message)\s*-{2,}"
    r"|(?:from|fra):\s.+@.+$)",
    re.IGNORECASE,
)


def message_ids(raw: str | None) -> set[str]:
    """Message-IDs in an In-Reply-To/References value, without angle brackets."""
    if not raw or not raw.strip():
        return set()
    found = set(_MESSAGE_ID_RE.findall(raw))
    return found or {part.strip("<>") for part in raw.split() if part.strip("<>")}


def strip_quoted(body: str) -> str:
    """Return only the new text of a reply: drop `>` lines and everything after a quote header."""
    kept: list[str] = []
    for line in body.splitlines():
        if _QUOTE_HEADER_RE.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept)


@lru_cache(maxsize=65_536)
def _danish_e164(digits: str) -> str | None:
    return to_e164("+45" + digits)


# Another country's code written out (+46 70 123 45 67, 0047 912 34 567): a hint that the text
# holds a foreign number, which the phonenumbers library then reads whole.
_FOREIGN_HINT = re.compile(r"(?<![\w+])(?:\+|00)\s?(?!45)[1-9]")


def _foreign_phones(text: str) -> set[str]:
    """Numbers written with a country code other than Denmark's, as E.164.

    Only with the code written out: a number without one is read as Danish (`_PHONE_RE`), and
    a foreign number without its code is not told from other digits. Possible (the right length
    for that country) rather than valid, as `phones.to_e164` stores customers' numbers: a lead
    form's `+46 71…` is kept on the customer, so the same number in a mail must find them. A
    number read wrongly finds nobody: the phone rule needs a customer with exactly that number.
    """
    found: set[str] = set()
    if not _FOREIGN_HINT.search(text):
        return found
    for match in phonenumbers.PhoneNumberMatcher(
        text, "DK", leniency=phonenumbers.Leniency.POSSIBLE
    ):
        number = match.number
        if number.country_code == 45 or not match.raw_string.startswith(("+", "00")):
            continue
        if _NOT_PHONE_CONTEXT.search(text[max(0, match.start - 20) : match.start]):
            continue
        found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return found


def extract_phones(body: str | None) -> frozenset[str]:
    """Phone numbers written in the new (unquoted) part of a message body, as E.164: Danish
    numbers with or without +45, other countries' with their code written out."""
    if not body:
        return frozenset()
    text = strip_quoted(body)
    found: set[str] = _foreign_phones(text)
    for match in _PHONE_RE.finditer(text):
        if _NOT_PHONE_CONTEXT.search(text[max(0, match.start() - 20) : match.start()]):
            continue
        digits = re.sub(r"\D", "", match.group("number"))
        # Without +45, Danish subscriber numbers never start with 0 or 1; those are other numbers.
        if match.group("prefix") is None and digits[0] in "01":
            continue
        e164 = _danish_e164(digits)
        if e164 is not None:
            found.add(e164)
    return frozenset(found)
