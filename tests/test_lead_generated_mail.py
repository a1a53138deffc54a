"""Property: every field a generated lead mail carries is read back exactly, nothing is invented.

The mails come from `tests.lead_mails` (written from the platforms' formats, not from the sample
mailbox) and go through the pipeline's own reading: MIME parsing, then the lead parsers.
"""

from __future__ import annotations

import functools
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.lead_mails import GeneratedLead, RandomChooser, generate, lead_mails, read_back
from tests.lead_mails.sources import SOURCES

PROPERTY_SETTINGS = settings(
    max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("source_key", [s.key for s in SOURCES])
@PROPERTY_SETTINGS
@given(data=st.data())
def test_every_written_field_reads_back_exactly_and_nothing_is_invented(
    source_key: str, data: st.DataObject
) -> None:
    mail = data.draw(lead_mails(source_key))
    assert mail.source_key == source_key
    assert mail.differences(read_back(mail)) == {}, mail.layout


@functools.cache
def _spread(count: int) -> list[GeneratedLead]:
    chooser = RandomChooser(random.Random(20261130))
    return [generate(chooser, index) for index in range(count)]


def test_the_generator_writes_every_source_rendering_encoding_and_wrapping() -> None:
    layouts = [mail.layout.split("/") for mail in _spread(600)]
    assert {parts[0] for parts in layouts} == {s.key for s in SOURCES}
    assert {parts[1] for parts in layouts} == {"text", "html", "alternative"}
    assert {parts[2] for parts in layouts} == {"quoted-printable", "base64", "8bit"}
    assert {parts[3] for parts in layouts} == {"utf-8", "iso-8859-1"}
    assert {parts[4] for parts in layouts} == {"none", "reply", "reply_nested", "fwd", "vs"}


def test_the_generator_writes_free_text_before_and_after_the_contact_block() -> None:
    """Issue #9's case: a free-text answer right before the contact answers, and after them."""
    places: Counter[str] = Counter()
    for mail in _spread(600):
        if "message" not in mail.order:
            continue
        at = mail.order.index("message")
        contact = [i for i, key in enumerate(mail.order) if key in {"name", "email", "phone"}]
        if contact:
            places["before"] += at < min(contact)
            places["after"] += at > max(contact)
            nxt = mail.order[at + 1] if at + 1 < len(mail.order) else "end"
            places["right before a contact answer"] += nxt in {"name", "email", "phone"}
        places["multi-line"] += "\n" in mail.expected["message"]
        places["with a colon inside"] += ":" in mail.expected["message"]
    assert min(places.values()) >= 20, places
