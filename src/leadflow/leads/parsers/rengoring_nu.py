"""Rengøring.nu leads, sent through Leadmail.no: bare "Label value" lines and question lines."""

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
    display_name="Rengøring.nu",
    labels=merge_labels(
        COMMON_LABELS,
        {
            "square_meters": ("Hvor stort er området", "Hvor stor er boligen", "Hvor mange m2"),
            "rooms": ("Hvor mange værelser", "Hvor mange værelser er der"),
            "floor": ("På hvilken etage ligger boligen", "Hvilken etage ligger boligen på"),
            "preferred_date": ("Hvornår skal opgaven udføres", "Hvornår ønskes opgaven udført"),
            "message": ("Yderligere information", "Beskrivelse af opgaven"),
        },
    ),
)


def parse_rengoring_nu(
    email: LeadEmail, excluded: AddressFilter = on_platform_domain
) -> ParsedLead:
    """Parse a Rengøring.nu lead; the Leadmail.no sender is never taken as the customer."""
    return FORMAT.parse(email, excluded)
