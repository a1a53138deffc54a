"""A lead-mail generator for tests and the benchmark, independent of the sample mailbox.

For each of the four sources it writes random subsets of the fields in random order; free-text
answers with colons, several lines, blank lines and label words inside sentences, before and
after the contact block; every phone format #4 reads; æøå; plain text, HTML-only table layouts
and multipart/alternative; quoted-printable, base64 and 8bit; utf-8 and latin-1; Re:/Fwd:/VS:
wrapping with "> " quoting. Each mail carries the lead its reading must give, field by field
(`LEAD_FIELDS`); a field the generator did not write must read as None.

`lead_mails()` is the Hypothesis strategy; `generate(RandomChooser(random.Random(seed)), n)`
makes the same mails from a seed (the benchmark).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from leadflow.leads.parsers import LeadEmail, ParsedLead, parse_lead
from leadflow.mail.mime import parse_message
from leadflow.settings import Settings
from tests.lead_mails import render
from tests.lead_mails.choices import Chooser, DrawChooser, RandomChooser
from tests.lead_mails.drafts import draft
from tests.lead_mails.sources import LEAD_FIELDS, SOURCES, Line

__all__ = [
    "LEAD_FIELDS",
    "GeneratedLead",
    "RandomChooser",
    "generate",
    "lead_mails",
    "read_back",
    "reading_of",
]

SENDERS: dict[str, list[str]] = Settings.model_fields["lead_senders"].get_default(
    call_default_factory=True
)
OWN_DOMAINS = ("rendetalje.dk",)


@dataclass(frozen=True)
class GeneratedLead:
    source_key: str
    raw: bytes
    expected: dict[str, Any]
    layout: str  # how it was written: source/rendering/transfer encoding/charset/wrapping
    order: tuple[str, ...]  # the answers' keys in body order ("heading" for a section heading)
    message_id: str
    sent: datetime

    def differences(self, lead: ParsedLead | None) -> dict[str, tuple[Any, Any]]:
        """Field -> (expected, read) for every field read wrongly ("lead" when none was found)."""
        if lead is None:
            return {"lead": ("a lead", None)}
        got = reading_of(lead)
        return {k: (v, got[k]) for k, v in self.expected.items() if got[k] != v}


def reading_of(lead: ParsedLead) -> dict[str, Any]:
    return {name: getattr(lead, name) for name in LEAD_FIELDS}


def generate(c: Chooser, index: int = 0, source_key: str | None = None) -> GeneratedLead:
    """One lead mail of `source_key` ("rengoring_nu", "leadpoint", "adhelp", "website"), or of
    a random source."""
    source = c.pick([s for s in SOURCES if source_key in (None, s.key)])
    d = draft(c, source)
    kind = render.wrapping(c)
    rendering = c.pick(("text", "text", "html", "alternative"))
    text, html = render.text_body(c, d), render.html_body(c, d)
    if kind != "none":
        text = render.wrap_text(c, d, kind, text)
        html = render.wrap_html(c, d, kind, html) if kind != "vs" else html
    subject = render.subject_prefix(c, kind) + d.subject
    message_id = f"<lead-{index}-{c.number(0, 10**9)}@generator.test>"
    raw, encoding = render.mime(
        c, d, subject=subject, text=text, html=html, rendering=rendering, message_id=message_id
    )
    layout = f"{source.key}/{rendering}/{encoding}/{kind}"
    order = tuple(
        item.key if isinstance(item, Line) else "heading" for block in d.blocks for item in block
    )
    return GeneratedLead(source.key, raw, d.expected, layout, order, message_id, d.sent)


@st.composite
def lead_mails(draw: st.DrawFn, source_key: str | None = None) -> GeneratedLead:
    """Hypothesis strategy: one generated lead mail (of one source, when given)."""
    return generate(DrawChooser(draw), source_key=source_key)


def read_back(mail: GeneratedLead) -> ParsedLead | None:
    """The lead the pipeline's parsing reads from the mail (MIME, then the lead parsers)."""
    message = parse_message(
        mail.raw, gmail_message_id="g", gmail_thread_id="t", own_domains=OWN_DOMAINS
    )
    return parse_lead(LeadEmail.from_parsed(message), senders=SENDERS, own_domains=OWN_DOMAINS)
