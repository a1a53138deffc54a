"""The business's own website form: a no-reply sender at an own domain, Reply-To the customer."""

from __future__ import annotations

import re

from leadflow.leads.parsers.base import (
    COMMON_LABELS,
    LEAD_SUBJECT,
    LeadEmail,
    ParsedLead,
    SourceFormat,
    merge_labels,
    on_platform_domain,
)
from leadflow.leads.parsers.values import AddressFilter

FORMAT = SourceFormat(
    display_name="Website",
    labels=merge_labels(
        COMMON_LABELS,
        {
            "message": ("Meddelelse", "Din besked", "Message"),
            "task_type": ("Emne", "Hvad kan vi hjælpe med"),
        },
    ),
    subject=re.compile(
        rf"{LEAD_SUBJECT.pattern}|kontaktformular|kontakt\s*formular|formular\s*(?:indsendt|udfyldt)",
        re.IGNORECASE,
    ),
)


def parse_website(email: LeadEmail, excluded: AddressFilter = on_platform_domain) -> ParsedLead:
    """Parse a website form submission; own-domain addresses are excluded by the caller's filter."""
    return FORMAT.parse(email, excluded)
