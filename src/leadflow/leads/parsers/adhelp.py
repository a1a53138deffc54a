"""AdHelp leads: the aggregator writes from its own addresses; the customer's is in the body."""

from __future__ import annotations

from leadflow.leads.parsers.base import (
    COMMON_LABELS,
    LeadEmail,
    ParsedLead,
    SourceFormat,
    merge_labels,
    on_platform_domain,
)
from leadflow.leads.parsers.values import AddressFilter

FORMAT = SourceFormat(
    display_name="AdHelp",
    labels=merge_labels(
        COMMON_LABELS,
        {
            "name": ("Kunde navn", "Kundenavn"),
            "email": ("Kunde e-mail", "Kunde email", "Kunde mail", "Kundens email"),
            "phone": ("Kunde telefon", "Kunde tlf.", "Kunde tlf", "Kundens telefon"),
            "address": ("Kunde adresse", "Adresse for opgaven"),
            "task_type": ("Ønsket ydelse", "Type rengøring"),
            "message": ("Kundens besked", "Besked fra kunden", "Note"),
        },
    ),
    signers=("AdHelp",),
)


def parse_adhelp(email: LeadEmail, excluded: AddressFilter = on_platform_domain) -> ParsedLead:
    """Parse an AdHelp lead; no adhelp.dk (or other platform) address becomes the lead's email."""
    return FORMAT.parse(email, excluded)
