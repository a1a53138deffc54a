"""Where a customer's free text ends, and that every answer of a lead mail is kept (issue #9)."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from leadflow.leads.parsers import LeadEmail, ParsedLead, parse_lead
from tests.lead_samples import DEFAULT_SENDERS, OWN_DOMAINS, SENT

ISSUE_EXAMPLE = """Du har modtaget et nyt lead.

Modtaget 9-10-2025 kl. 20:31
Behov Fast rengøringshjælp
Hvor stort er området: 98
Hvornår skal opgaven udføres: Fleksibel
Kommentar: Vi vil gerne have samme person hver gang, hvis det er muligt.

Kontaktoplysninger
Navn Vibeke Krag Clausen
Email vibeke.krag@example.dk
Telefon 0045 46395906
Adresse Kildeløkken 83, 4. mf., 8230 Åbyhøj

Med venlig hilsen
Rengøring.nu
"""
COMMENT = "Vi vil gerne have samme person hver gang, hvis det er muligt."


def _parse(body: str, sender: str = "noreply@leadmail.no", subject: str = "Nyt lead") -> ParsedLead:
    email = LeadEmail(from_address=sender, subject=subject, body_text=body, sent_at=SENT)
    lead = parse_lead(email, senders=DEFAULT_SENDERS, own_domains=OWN_DOMAINS)
    assert lead is not None
    return lead


def test_the_issue_example_keeps_its_contact_block_and_every_answer() -> None:
    lead = _parse(ISSUE_EXAMPLE)
    assert (lead.name, lead.email, lead.phone) == (
        "Vibeke Krag Clausen",
        "vibeke.krag@example.dk",
        "+4546395906",
    )
    assert (lead.address, lead.postal_code, lead.city) == (
        "Kildeløkken 83, 4. mf.",
        "8230",
        "Åbyhøj",
    )
    assert lead.message == COMMENT
    assert (lead.preferred_date, lead.preferred_date_text) == (None, "Fleksibel")
    assert lead.needs_review is False


def _after_comment(*lines: str) -> str:
    return "Behov Hovedrengøring\nKommentar: " + COMMENT + "\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("colon", ["", ":"])
@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("Navn{c} Vibeke Krag Clausen", "name", "Vibeke Krag Clausen"),
        ("Navn{c} vibeke clausen", "name", "vibeke clausen"),
        ("Email{c} Vibeke@Example.dk", "email", "vibeke@example.dk"),
        ("Telefon{c} 0045 46395906", "phone", "+4546395906"),
        ("Telefon{c} 12 34 56 78 (mobil)", "phone", "+4512345678"),
        ("Adresse{c} Kildeløkken 83, 4. mf., 8230 Åbyhøj", "address", "Kildeløkken 83, 4. mf."),
        ("Adresse{c} 8230 Åbyhøj", "postal_code", "8230"),
        ("Hvor stort er området{c} 120 m2", "square_meters", 120.0),
        ("Boligtype{c} Villa/Parcelhus", "property_type", "Villa/Parcelhus"),
        (
            "Hvornår skal opgaven udføres{c} Hurtigst muligt",
            "preferred_date_text",
            "Hurtigst muligt",
        ),
    ],
)
def test_a_label_whose_value_has_its_fields_shape_ends_the_free_text(
    colon: str, line: str, field: str, value: object
) -> None:
    lead = _parse(_after_comment(line.format(c=colon)))
    assert lead.message == COMMENT
    assert getattr(lead, field) == value


@pytest.mark.parametrize("colon", ["", ":"])
@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("Navn{c} på dørskiltet er Hansen.", "name"),
        ("Navn{c} står ikke på døren, ring på nr. 2 eller 3 hvis ingen åbner.", "name"),
        ("Email{c} mig gerne, hvis I har spørgsmål.", "email"),
        ("Telefon{c} er bedst efter kl. 16.", "phone"),
        ("Adresse{c} er nem at finde, der er parkering foran huset.", "address"),
        ("Adresse{c} vi bor bag ved kirken, nr. 12.", "address"),
        ("Størrelse{c} ca. 120 m2 i alt, fordelt på to plan.", "square_meters"),
        ("Opgave{c} hele huset skal gøres rent.", "task_type"),
    ],
)
def test_a_label_word_followed_by_text_of_the_wrong_shape_stays_in_the_free_text(
    colon: str, line: str, field: str
) -> None:
    written = line.format(c=colon)
    lead = _parse(_after_comment(written, "", "Kontaktoplysninger", "Navn Vibeke Krag"))
    without = _parse(_after_comment("", "Kontaktoplysninger", "Navn Vibeke Krag"))
    assert lead.message == f"{COMMENT}\n{written}"
    assert lead == dataclasses.replace(without, message=lead.message)
    assert getattr(lead, field) == getattr(without, field)


@pytest.mark.parametrize(
    "ending",
    [
        "Kontaktoplysninger",
        "KUNDEOPLYSNINGER:",
        "Kontakt",
        "== Spørgsmål ==",
        "--",
        "----------",
        "Med venlig hilsen\nRengøring.nu",
        "Denne mail er sendt automatisk fra rendetalje.dk",
        "Har I husdyr: Ja",
    ],
)
def test_free_text_ends_at_a_heading_a_footer_or_a_platform_question(ending: str) -> None:
    lead = _parse(_after_comment("", ending, "Navn Søren"))
    assert lead.message == COMMENT


@pytest.mark.parametrize(
    "line", ["PS: Nøglen ligger under måtten.", "Med venlig hilsen", "Mvh Vibeke", "Kontakt os"]
)
def test_a_customers_own_lines_stay_in_the_free_text(line: str) -> None:
    lead = _parse(_after_comment(line, "Navn Vibeke Krag"))
    assert lead.message == f"{COMMENT}\n{line}"
    assert lead.name == "Vibeke Krag"


@pytest.mark.parametrize(
    ("written", "day"),
    [
        ("Fleksibel", None),
        ("Hurtigst muligt", None),
        ("Inden for en måned", None),
        ("15-11-2025", date(2025, 11, 15)),
        ("Snarest muligt, gerne 1-12-2025", date(2025, 12, 1)),
    ],
)
def test_the_preferred_date_is_kept_as_written_beside_the_date(
    written: str, day: date | None
) -> None:
    lead = _parse(f"Behov Flytterengøring\nHvornår skal opgaven udføres: {written}\nNavn Å Ø\n")
    assert (lead.preferred_date, lead.preferred_date_text) == (day, written)


def test_answers_no_field_takes_are_kept_in_details_by_label() -> None:
    lead = _parse(
        "Domæne Rengøring.nu\nBehov Hovedrengøring\nHar I husdyr: Ja, en hund\n"
        "Hvor ofte skal der gøres rent:\nHver 14. dag\nHvor stort er området: ved ikke\n"
        "Telefon ring efter kl. 16\nTelefon 22 33 44 55\nEmail support@leadmail.no\n"
        "Kommentar: Ring før I kommer.\nYderligere information: Porten er låst.\n"
    )
    assert lead.details == {
        "Domæne": "Rengøring.nu",
        "Har I husdyr": "Ja, en hund",
        "Hvor ofte skal der gøres rent": "Hver 14. dag",
        "Hvor stort er området": "ved ikke",
        "Telefon": "ring efter kl. 16",
        "Yderligere information": "Porten er låst.",
    }
    assert (lead.message, lead.phone, lead.email, lead.square_meters) == (
        "Ring før I kommer.",
        "+4522334455",
        None,
        None,
    )


def test_forwarded_mail_headers_are_neither_fields_nor_details() -> None:
    body = (
        "Kan du tage denne?\n\n-----Oprindelig meddelelse-----\nFra: Rendetalje.dk "
        "<noreply@rendetalje.dk>\nSendt: 9. oktober 2025 20:31\nTil: info@rendetalje.dk\n"
        "Emne: Ny henvendelse\n\nNavn: Ole Bundgaard\nTelefon: 28 11 22 33\nBesked: Ring.\n"
    )
    lead = _parse(body, sender="noreply@rendetalje.dk", subject="VS: Ny henvendelse")
    assert (lead.name, lead.phone, lead.message, lead.task_type) == (
        "Ole Bundgaard",
        "+4528112233",
        "Ring.",
        None,
    )
    assert lead.details == {}


def test_a_platform_footer_never_gives_the_customer_its_phone() -> None:
    body = (
        "Kundens navn: Mette Frølund\nOpgave: Flytterengøring\nE-mail: mette@example.net\n"
        "\n--\nLeadpoint ApS\nTlf.: 70 20 30 40\nAdresse: Leadvej 1, 8000 Aarhus C\n"
    )
    lead = _parse(body, sender="opgaver@leadpoint.dk", subject="Ny opgave")
    assert (lead.phone, lead.address, lead.postal_code) == (None, None, None)


def test_a_lead_quoted_below_a_reply_is_read_after_the_replys_signature() -> None:
    quoted = "\n".join(f"> {line}" if line else ">" for line in ISSUE_EXAMPLE.splitlines())
    body = (
        "Husk at ringe i dag.\n\nMed venlig hilsen\nRengøring.nu\n\n"
        "Den tor. 9. okt. 2025 kl. 20.31 skrev Rengøring.nu <noreply@leadmail.no>:\n" + quoted
    )
    assert _parse(body, subject="Re: Nyt lead") == _parse(ISSUE_EXAMPLE)


def test_a_huge_lead_mail_keeps_its_fields_and_bounds_its_details() -> None:
    questions = "".join(f"Har I spørgsmål nummer {'x' * (n % 7)}: Ja\n" for n in range(1_000))
    text = "Vi har mange ting at sige.\n" * 5_000
    body = f"Behov Hovedrengøring\n{questions}Kommentar: {text}\nKontaktoplysninger\nNavn Å Ø\n"
    lead = _parse(body)
    assert (lead.task_type, lead.name) == ("Hovedrengøring", "Å Ø")
    assert lead.message is not None
    assert lead.message.count("\n") == 5_000 - 1
    assert len(lead.details) == 50


@pytest.mark.parametrize(
    ("line", "question"),
    [
        ("I weekenden: vi er ikke hjemme.", False),
        ("På hvilken adresse skal der gøres rent: Hos min mor", True),
        ("Hvor ofte skal der gøres rent: Hver uge", True),
    ],
)
def test_only_a_platform_question_with_a_colon_ends_the_free_text(
    line: str, question: bool
) -> None:
    lead = _parse(_after_comment(line, "Navn Vibeke Krag"))
    assert lead.message == (COMMENT if question else f"{COMMENT}\n{line}")
    assert bool(lead.details) is question
