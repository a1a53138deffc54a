"""Leadpoint leads (Rengøring Aarhus): "Label: value" lines; Reply-To is the customer."""

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
    display_name="Leadpoint",
    labels=merge_labels(
        COMMON_LABELS,
        {
            "email": ("Kundens email", "Kundens mail"),
            "phone": ("Kundens telefon", "Kundens tlf.", "Kundens tlf"),
            "task_type": ("Opgavens type", "Type af rengøring"),
            "square_meters": ("Boligareal",),
            "preferred_date": ("Ønsket opstart", "Dato for opgaven"),
            "message": ("Opgavebeskrivelse", "Kundens besked"),
        },
    ),
    signers=("Leadpoint", "Rengøring Aarhus"),
)


def parse_leadpoint(email: LeadEmail, excluded: AddressFilter = on_platform_domain) -> ParsedLead:
    """Parse a Leadpoint lead; Reply-To is the email fallback when the body has none."""
    return FORMAT.parse(email, excluded)
