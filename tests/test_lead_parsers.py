"""Table-driven tests for lead detection and parsing (pure, no database)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from leadflow.leads.parsers import (
    PARSERS,
    LeadEmail,
    ParsedLead,
    detect_source,
    is_platform_address,
    parse_lead,
    strip_reply_prefixes,
)
from leadflow.leads.parsers.base import on_platform_domain
from leadflow.leads.parsers.values import (
    find_email,
    find_phone,
    parse_area,
    parse_count,
    parse_date,
    parse_local_datetime,
    split_address,
)
from leadflow.mail.message import Address, ParsedMessage
from leadflow.models import Direction
from tests.lead_samples import (
    DEFAULT_SENDERS,
    LEAD_SAMPLES,
    OWN_DOMAINS,
    RENGORING_TEXT,
    SENT,
    LeadSample,
)

LEADS = [s for s in LEAD_SAMPLES if s.expected is not None]
NON_LEADS = [s for s in LEAD_SAMPLES if s.expected is None]


def _parse(email: LeadEmail) -> ParsedLead | None:
    return parse_lead(email, senders=DEFAULT_SENDERS, own_domains=OWN_DOMAINS)


def _rengoring(body: str, subject: str = "Nyt lead fra Rengøring.nu") -> LeadEmail:
    return LeadEmail(
        from_address="noreply@leadmail.no",
        from_name="Rengøring.nu",
        subject=subject,
        body_text=body,
        sent_at=SENT,
    )


@pytest.mark.parametrize("sample", LEADS, ids=lambda s: s.id)
def test_it_parses_every_field_of_a_lead_sample(sample: LeadSample) -> None:
    assert _parse(sample.lead_email()) == sample.expected


@pytest.mark.parametrize("sample", LEAD_SAMPLES, ids=lambda s: s.id)
def test_it_detects_the_source_of_a_sample(sample: LeadSample) -> None:
    assert detect_source(sample.lead_email(), DEFAULT_SENDERS, OWN_DOMAINS) == sample.source_key


@pytest.mark.parametrize("sample", NON_LEADS, ids=lambda s: s.id)
def test_it_finds_no_lead_in_mail_that_is_not_a_lead(sample: LeadSample) -> None:
    assert _parse(sample.lead_email()) is None


def test_the_samples_cover_every_source_and_body_kind() -> None:
    for key, parser in PARSERS.items():
        sources = [s for s in LEADS if s.source_key == key]
        assert any(s.body_html and not s.body_text for s in sources), key
        assert any(s.body_text for s in sources), key
        assert all(
            s.expected is not None and s.expected.source == parser.display_name for s in sources
        )
    assert any(s.body_text and s.body_html for s in LEADS)
    assert any(s.expected is not None and s.expected.needs_review for s in LEADS)


def test_a_lead_without_email_or_phone_is_kept_and_needs_review() -> None:
    lead = _parse(_rengoring("Navn Vibeke Åkjær\nBehov Hovedrengøring\nTelefon ring ikke\n"))
    assert lead is not None
    assert lead.needs_review is True
    assert (lead.name, lead.email, lead.phone) == ("Vibeke Åkjær", None, None)


def test_a_lead_with_only_a_phone_does_not_need_review() -> None:
    lead = _parse(_rengoring("Navn Vibeke Åkjær\nTelefon 22 33 44 55\nBehov Hovedrengøring\n"))
    assert lead is not None
    assert (lead.email, lead.phone, lead.needs_review) == (None, "+4522334455", False)


PHONE_FORMATS = [
    ("+45 12 34 56 78", "+4512345678"),
    ("12345678", "+4512345678"),
    ("+4512345678", "+4512345678"),
    ("12 34 56 78", "+4512345678"),
    ("1234 5678", "+4512345678"),
    ("0045 12 34 56 78", "+4512345678"),
    ("(+45) 12 34 56 78", "+4512345678"),
    ("+45-12-34-56-78", "+4512345678"),
    ("12 34 56 78 (mobil)", "+4512345678"),
    ("+46 70 123 45 67", "+46701234567"),
    ("1234", None),
    ("ring efter kl. 16", None),
    # E.164 has no room for an extension: unread (the answer stays), not cut short.
    ("+45 12 34 56 78 ext. 99", None),
    ("12 34 56 78 x 12", None),
]


@pytest.mark.parametrize(("written", "e164"), PHONE_FORMATS)
def test_it_reads_phone_numbers_written_in_many_ways(written: str, e164: str | None) -> None:
    body = RENGORING_TEXT.replace("+45 12 34 56 78", written)
    lead = _parse(_rengoring(body))
    assert lead is not None
    assert lead.phone == e164


@pytest.mark.parametrize(
    "subject",
    [
        "Nyt lead fra Rengøring.nu",
        "Re: Nyt lead fra Rengøring.nu",
        "RE: Nyt lead fra Rengøring.nu",
        "Fwd: Nyt lead fra Rengøring.nu",
        "FW: Nyt lead fra Rengøring.nu",
        "VS: Nyt lead fra Rengøring.nu",
        "SV: SV: Nyt lead fra Rengøring.nu",
        "Re[2]: Nyt lead fra Rengøring.nu",
        "",
    ],
)
def test_reply_and_forward_prefixes_do_not_change_the_lead(subject: str) -> None:
    assert _parse(_rengoring(RENGORING_TEXT, subject)) == _parse(_rengoring(RENGORING_TEXT))


def _relabel(text: str, transform: str) -> str:
    """Rewrite every 'Label value' line of the Rengøring.nu sample in another layout."""
    labels = [
        "Modtaget",
        "Type kontakt",
        "Behov",
        "Boligtype",
        "Navn",
        "Email",
        "Telefon",
        "Adresse",
    ]
    lines = []
    for line in text.splitlines():
        label = next((lb for lb in labels if line.startswith(lb + " ")), None)
        if label is None:
            lines.append(line)
            continue
        value = line[len(label) + 1 :]
        if transform == "colon":
            lines.append(f"{label}: {value}")
        elif transform == "upper":
            lines.append(f"{label.upper()} {value}")
        elif transform == "lower_colon_spaces":
            lines.append(f"  {label.lower()}   :   {value}   ")
        elif transform == "tabs_crlf":
            lines.append(f"{label}\t{value}\r")
        elif transform == "blank_lines":
            lines.append(f"{label}\n\n{value}\n")
        elif transform == "quoted":
            lines.append(f"> {label} {value}")
    if transform == "reversed":
        return "\n".join(reversed(text.splitlines()))
    return "\n".join(lines)


@pytest.mark.parametrize(
    "transform",
    ["colon", "upper", "lower_colon_spaces", "tabs_crlf", "blank_lines", "quoted", "reversed"],
)
def test_label_layout_does_not_change_the_lead(transform: str) -> None:
    expected = LEAD_SAMPLES[0].expected
    assert _parse(_rengoring(_relabel(RENGORING_TEXT, transform))) == expected


@pytest.mark.parametrize(
    ("removed", "field"),
    [
        ("Email soren.aerbo@example.dk\n", "email"),
        ("Telefon +45 12 34 56 78\n", "phone"),
        ("Hvor mange værelser: 3\n", "rooms"),
        ("På hvilken etage ligger boligen: 2\n", "floor"),
        ("Boligtype Lejlighed\n", "property_type"),
        ("Type kontakt Privat\n", "contact_type"),
        ("Behov Fast rengøringshjælp\n", "task_type"),
        ("Hvor stort er området: 98\n", "square_meters"),
        ("Navn Søren Ærbø\n", "name"),
    ],
)
def test_a_missing_field_is_none_and_nothing_else_changes(removed: str, field: str) -> None:
    expected = LEAD_SAMPLES[0].expected
    assert expected is not None
    lead = _parse(_rengoring(RENGORING_TEXT.replace(removed, "")))
    assert lead == dataclasses.replace(expected, **{field: None})


def test_a_missing_modtaget_line_falls_back_to_the_message_date() -> None:
    lead = _parse(_rengoring(RENGORING_TEXT.replace("Modtaget 9-10-2025 kl. 20:31\n", "")))
    assert lead is not None
    assert lead.received_at == SENT


def test_a_missing_address_gives_no_address_parts() -> None:
    lead = _parse(_rengoring(RENGORING_TEXT.replace("Adresse Somevej 12, 8000 Aarhus C\n", "")))
    assert lead is not None
    assert (lead.address, lead.postal_code, lead.city) == (None, None, None)


@pytest.mark.parametrize(
    "platform_address", ["noreply@leadmail.no", "kontakt@leadpoint.dk", "mw@adhelp.dk"]
)
def test_a_platform_address_in_the_body_never_becomes_the_customer_email(
    platform_address: str,
) -> None:
    body = RENGORING_TEXT.replace("soren.aerbo@example.dk", platform_address)
    lead = _parse(_rengoring(body))
    assert lead is not None
    assert lead.email is None


def test_an_own_domain_address_never_becomes_the_customer_email() -> None:
    email = LeadEmail(
        from_address="noreply@rendetalje.dk",
        reply_to=("info@rendetalje.dk",),
        subject="Kontaktformular",
        body_text="Navn: Test Testesen\nEmail: info@rendetalje.dk\nTelefon: 33 44 55 66\n",
    )
    lead = _parse(email)
    assert lead is not None
    assert (lead.email, lead.phone) == (None, "+4533445566")


def test_reply_to_is_the_email_fallback_but_never_the_platform() -> None:
    email = LeadEmail(
        from_address="noreply@leadpoint.dk",
        reply_to=("noreply@leadpoint.dk", "Kunde.Ny@Example.DK"),
        subject="Ny opgave",
        body_text="Kundens navn: Ny Kunde\nOpgave: Hovedrengøring\n",
    )
    lead = _parse(email)
    assert lead is not None
    assert lead.email == "kunde.ny@example.dk"


def test_the_body_email_wins_over_reply_to() -> None:
    email = LeadEmail(
        from_address="noreply@rendetalje.dk",
        reply_to=("other@example.dk",),
        subject="Kontaktformular",
        body_text="Navn: Per\nEmail: Per@Example.dk\n",
    )
    lead = _parse(email)
    assert lead is not None
    assert lead.email == "per@example.dk"


def test_a_colleague_at_an_own_domain_is_not_a_website_lead_even_with_a_wildcard_pattern() -> None:
    senders = {**DEFAULT_SENDERS, "website": ["*@rendetalje.dk"]}
    colleague = LeadEmail(
        from_address="michael@rendetalje.dk",
        subject="Ny henvendelse",
        body_text="Navn: Jens\nEmail: jens@example.dk\nBesked: Ring til ham",
    )
    form = dataclasses.replace(colleague, from_address="noreply@rendetalje.dk")
    assert detect_source(colleague, senders, OWN_DOMAINS) is None
    assert detect_source(form, senders, OWN_DOMAINS) == "website"


def test_a_new_platform_is_only_a_settings_entry_away_from_detection() -> None:
    email = dataclasses.replace(LEAD_SAMPLES[0].lead_email(), from_address="lead@nyplatform.dk")
    assert detect_source(email, DEFAULT_SENDERS, OWN_DOMAINS) is None
    senders = {**DEFAULT_SENDERS, "rengoring_nu": ["*@leadmail.no", "*@nyplatform.dk"]}
    assert detect_source(email, senders, OWN_DOMAINS) == "rengoring_nu"


def test_an_unknown_parser_key_in_settings_is_ignored() -> None:
    senders = {"nonexistent": ["*@leadmail.no"]}
    assert detect_source(LEAD_SAMPLES[0].lead_email(), senders, OWN_DOMAINS) is None


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("noreply@leadmail.no", True),
        ("Someone@LEADPOINT.dk", True),
        ("mw@adhelp.dk", True),
        ("anyone@adhelp.dk", True),
        ("x@mail.leadmail.no", True),
        ("noreply@rendetalje.dk", True),
        ("info@rendetalje.dk", False),
        ("kunde@example.dk", False),
        ("kunde@notleadpoint.dk", False),
        ("", True),
    ],
)
def test_it_knows_platform_addresses(address: str, expected: bool) -> None:
    assert is_platform_address(address, DEFAULT_SENDERS) is expected


@pytest.mark.parametrize(
    ("subject", "stripped"),
    [
        ("Re: Nyt lead", "Nyt lead"),
        ("RE: Fwd: VS: SV: Nyt lead", "Nyt lead"),
        ("Re[3]: Nyt lead", "Nyt lead"),
        ("  fw:Nyt lead", "Nyt lead"),
        ("Referat: møde", "Referat: møde"),
    ],
)
def test_it_strips_reply_prefixes(subject: str, stripped: str) -> None:
    assert strip_reply_prefixes(subject) == stripped


@pytest.mark.parametrize(
    ("written", "parts"),
    [
        ("Somevej 12, 8000 Aarhus C", ("Somevej 12", "8000", "Aarhus C")),
        ("Somevej 12 8000 Aarhus C", ("Somevej 12", "8000", "Aarhus C")),
        ("Øster Allé 3, 2. th., 2100 København Ø", ("Øster Allé 3, 2. th.", "2100", "København Ø")),
        ("Bygade 1000, 4000 Roskilde, Danmark", ("Bygade 1000", "4000", "Roskilde")),
        ("DK-8000 Aarhus C", (None, "8000", "Aarhus C")),
        ("Somevej 12", ("Somevej 12", None, None)),
        ("", (None, None, None)),
    ],
)
def test_it_splits_danish_addresses(written: str, parts: tuple[str | None, ...]) -> None:
    assert split_address(written) == parts


@pytest.mark.parametrize(
    ("written", "area"),
    [
        ("98", 98.0),
        ("120 m2", 120.0),
        ("120 m²", 120.0),
        ("120m2", 120.0),
        ("85,5 kvm", 85.5),
        ("1.200 m2", 1200.0),
        ("ca. 70 kvadratmeter", 70.0),
        ("100-150 m2", None),
        ("ved ikke", None),
        ("0", None),
        # A sign is part of the number: no size, rather than its absolute value.
        ("-50 m²", None),
        ("− 50 kvm", None),
    ],
)
def test_it_reads_square_metres(written: str, area: float | None) -> None:
    assert parse_area(written) == area


@pytest.mark.parametrize(
    ("written", "count"),
    [("3", 3), ("3 værelser", 3), ("3,5", None), ("2-3", None), ("", None), ("-3", None)],
)
def test_it_reads_room_counts(written: str, count: int | None) -> None:
    assert parse_count(written) == count


@pytest.mark.parametrize(
    ("written", "day"),
    [
        ("15-11-2025", date(2025, 11, 15)),
        ("15.11.2025", date(2025, 11, 15)),
        ("15/11/2025", date(2025, 11, 15)),
        ("2025-11-15", date(2025, 11, 15)),
        ("15. november 2025", date(2025, 11, 15)),
        ("1. maj 2026", date(2026, 5, 1)),
        ("Snarest muligt, gerne 1-12-2025", date(2025, 12, 1)),
        ("31-02-2025", None),
        ("snarest muligt", None),
        # Outside the years leadflow keeps (asyncpg would store 9999-12-31 as infinity).
        ("31.12.9999", None),
        ("01-01-0001", None),
        ("31. december 1969", None),
        ("1. januar 2101", None),
        ("1. januar 1970", date(1970, 1, 1)),
        ("31-12-2100", date(2100, 12, 31)),
    ],
)
def test_it_reads_preferred_dates(written: str, day: date | None) -> None:
    assert parse_date(written) == day


@pytest.mark.parametrize(
    ("written", "utc"),
    [
        ("9-10-2025 kl. 20:31", datetime(2025, 10, 9, 18, 31, tzinfo=UTC)),
        ("14-1-2025 kl. 08:05", datetime(2025, 1, 14, 7, 5, tzinfo=UTC)),
        ("09.10.2025 20.31", datetime(2025, 10, 9, 18, 31, tzinfo=UTC)),
        ("2025-10-09 20:31:15", datetime(2025, 10, 9, 18, 31, 15, tzinfo=UTC)),
        ("9-10-2025", None),
        ("9-10-2025 kl. 25:00", None),
    ],
)
def test_it_reads_modtaget_times_in_copenhagen_time(written: str, utc: datetime | None) -> None:
    parsed = parse_local_datetime(written)
    assert parsed == utc
    assert parsed is None or parsed.utcoffset() is not None


def test_it_finds_the_first_email_that_is_not_excluded() -> None:
    value = "mw@adhelp.dk eller Kunde@Example.dk."
    assert find_email(value, on_platform_domain) == "kunde@example.dk"
    assert find_email("ingen adresse", on_platform_domain) is None


def test_a_phone_field_holding_an_email_gives_no_phone() -> None:
    assert find_phone("jens2024@example.dk") is None


def test_lead_email_is_built_from_a_parsed_message() -> None:
    msg = ParsedMessage(
        gmail_message_id="m1",
        gmail_thread_id="t1",
        rfc822_message_id=None,
        in_reply_to=None,
        references=(),
        from_address=Address("noreply@leadmail.no", "Rengøring.nu"),
        to=(Address("info@rendetalje.dk"),),
        cc=(),
        reply_to=(Address("Kunde@Example.dk", "Kunde"),),
        subject="Nyt lead fra Rengøring.nu",
        body_text="Navn Kunde",
        body_truncated=False,
        snippet="",
        direction=Direction.INBOUND,
        labels=(),
        attachments=(),
        size_bytes=10,
        sent_at=SENT,
    )
    assert LeadEmail.from_parsed(msg) == LeadEmail(
        from_address="noreply@leadmail.no",
        from_name="Rengøring.nu",
        reply_to=("kunde@example.dk",),
        subject="Nyt lead fra Rengøring.nu",
        body_text="Navn Kunde",
        sent_at=SENT,
    )


def test_lead_email_from_a_message_without_sender_is_not_a_lead() -> None:
    msg = ParsedMessage(
        gmail_message_id="m2",
        gmail_thread_id="t2",
        rfc822_message_id=None,
        in_reply_to=None,
        references=(),
        from_address=None,
        to=(),
        cc=(),
        reply_to=(),
        subject="Nyt lead fra Rengøring.nu",
        body_text=RENGORING_TEXT,
        body_truncated=False,
        snippet="",
        direction=Direction.INBOUND,
        labels=(),
        attachments=(),
        size_bytes=10,
        sent_at=None,
    )
    assert _parse(LeadEmail.from_parsed(msg)) is None


def test_needs_review_follows_the_contact_fields() -> None:
    assert ParsedLead(source="X").needs_review is True
    assert ParsedLead(source="X", email="a@example.dk").needs_review is False
    assert ParsedLead(source="X", phone="+4512345678").needs_review is False
