"""Lead detection and parsing: which lead platform sent a mail, and the lead it carries.

Adding a platform is one parser module, one entry in `PARSERS` and one entry in
`Settings.lead_senders` (parser key to sender address patterns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Protocol

from leadflow.leads.parsers import adhelp, leadpoint, rengoring_nu, website
from leadflow.leads.parsers.base import (
    PLATFORM_DOMAINS,
    LeadEmail,
    ParsedLead,
    in_domains,
    strip_reply_prefixes,
)
from leadflow.leads.parsers.values import AddressFilter

__all__ = [
    "PARSERS",
    "PLATFORM_DOMAINS",
    "LeadEmail",
    "LeadParser",
    "ParsedLead",
    "detect_source",
    "is_platform_address",
    "parse_lead",
    "strip_reply_prefixes",
]


class LeadParser(Protocol):
    """One platform's parser: its display name, a shape check and the parse itself."""

    @property
    def display_name(self) -> str: ...

    def looks_like_lead(self, email: LeadEmail) -> bool: ...

    def parse(self, email: LeadEmail, excluded: AddressFilter = ...) -> ParsedLead: ...


PARSERS: dict[str, LeadParser] = {
    "rengoring_nu": rengoring_nu.FORMAT,
    "leadpoint": leadpoint.FORMAT,
    "adhelp": adhelp.FORMAT,
    "website": website.FORMAT,
}

# Local parts of automated senders: only these may send leads from an own domain through a
# wildcard pattern, so a colleague writing about a lead is never taken for a lead platform.
_AUTOMATED_LOCAL_PARTS = frozenset(
    {"noreply", "no-reply", "donotreply", "do-not-reply", "wordpress", "website", "formular"}
)
_WILDCARDS = frozenset("*?[")


def _matches(address: str, pattern: str) -> bool:
    return fnmatchcase(address, pattern.strip().lower())


def _pattern_domain(pattern: str) -> str | None:
    """Return the domain of a whole-domain pattern such as "*@leadmail.no"."""
    pattern = pattern.strip().lower()
    if pattern.startswith("*@") and not _WILDCARDS & set(pattern[2:]):
        return pattern[2:]
    return None


def is_platform_address(address: str, senders: Mapping[str, Sequence[str]]) -> bool:
    """Return True when `address` belongs to a lead platform or aggregator, never to a customer."""
    address = address.strip().lower()
    if not address or in_domains(address, PLATFORM_DOMAINS):
        return True
    for patterns in senders.values():
        for pattern in patterns:
            domain = _pattern_domain(pattern)
            if _matches(address, pattern) or (domain and in_domains(address, [domain])):
                return True
    return False


def _sender_matches(address: str, patterns: Sequence[str], own_domains: Sequence[str]) -> bool:
    own = in_domains(address, own_domains)
    for pattern in patterns:
        if not _matches(address, pattern):
            continue
        exact = not _WILDCARDS & set(pattern)
        if not own or exact or address.partition("@")[0] in _AUTOMATED_LOCAL_PARTS:
            return True
    return False


def detect_source(
    email: LeadEmail, senders: Mapping[str, Sequence[str]], own_domains: Sequence[str]
) -> str | None:
    """Return the parser key for a lead email (sender pattern and lead shape), else None."""
    address = email.from_address.strip().lower()
    if "@" not in address:
        return None
    own = [d.strip().lower() for d in own_domains if d.strip()]
    for key, patterns in senders.items():
        parser = PARSERS.get(key)
        if parser is None or not _sender_matches(address, patterns, own):
            continue
        if parser.looks_like_lead(email):
            return key
    return None


def parse_lead(
    email: LeadEmail, *, senders: Mapping[str, Sequence[str]], own_domains: Sequence[str]
) -> ParsedLead | None:
    """Return the lead in `email`, or None when it is not a lead email."""
    key = detect_source(email, senders, own_domains)
    if key is None:
        return None
    own = [d.strip().lower() for d in own_domains if d.strip()]

    def excluded(address: str) -> bool:
        return is_platform_address(address, senders) or in_domains(address, own)

    return PARSERS[key].parse(email, excluded)
