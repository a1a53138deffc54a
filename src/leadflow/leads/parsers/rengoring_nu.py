"""Rengøring.nu leads, sent through Leadmail.no: bare "Label value" lines and question lines.

The mail has a block of bare lines ("Behov Fast rengøringshjælp"), the platform's questions with
a colon ("Hvor stort er området: 98", a free-text "Kommentar: …" among them), then the contact
block under "Kontaktoplysninger" with bare labels again, and a "Med venlig hilsen / Rengøring.nu"
footer. "Domæne" names the platform's site and is kept in `details`.
"""

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
            "preferred_date": (
                "Hvornår skal opgaven udføres",
                "Hvornår ønskes opgaven udført",
                "Hvornår skal rengøringen starte",
            ),
            "message": ("Yderligere information", "Beskrivelse af opgaven"),
            "detail": ("Domæne",),
        },
    ),
    signers=("Rengøring.nu", "Rengøringnu", "Leadmail", "Leadmail.no"),
)


def parse_rengoring_nu(
    email: LeadEmail, excluded: AddressFilter = on_platform_domain
) -> ParsedLead:
    """Parse a Rengøring.nu lead; the Leadmail.no sender is never taken as the customer."""
    return FORMAT.parse(email, excluded)
