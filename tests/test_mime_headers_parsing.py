"""Table-driven parser tests: addresses, subject, date, message ids, direction, snippet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.header import Header

import pytest

from leadflow.mail.message import Address
from leadflow.mail.mime import (
    direction_of,
    normalise_message_id,
    parse_message,
    parse_references,
    snippet_of,
)
from leadflow.models import Direction
from tests.mail_samples import (
    BASIC_HEADERS,
    message,
    parse,
    text_part,
)

GMAIL_DATE = datetime(2025, 3, 4, 8, 30, tzinfo=UTC)


def with_header(name: str, value: str | bytes) -> bytes:
    """A basic message whose header `name` is replaced by `value`."""
    headers = [(n, v) for n, v in BASIC_HEADERS if n.lower() != name.lower()]
    return message([*headers, (name, value)], text_part("Hej"))


# --- addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Anna Hansen <Anna.Hansen@Example.DK>", [("anna.hansen@example.dk", "Anna Hansen")]),
        ('"Hansen, Anna" <anna@example.dk>', [("anna@example.dk", "Hansen, Anna")]),
        ("  bo@example.dk  ", [("bo@example.dk", "")]),
        (
            "=?utf-8?q?S=C3=B8ren_=C3=86bel=C3=B8?= <soren@example.dk>",
            [("soren@example.dk", "Søren Æbelø")],
        ),
        (
            "=?ISO-8859-1?Q?S=F8ren_=C6bel=F8?= <soren@example.dk>",
            [("soren@example.dk", "Søren Æbelø")],
        ),
        (b"\xc3\x98rsted Olsen <o@example.dk>", [("o@example.dk", "Ørsted Olsen")]),
        (b"\xd8rsted Olsen <o@example.dk>", [("o@example.dk", "Ørsted Olsen")]),
        (
            "Team: a@example.dk, B@Example.dk;, c@example.dk",
            [("a@example.dk", ""), ("b@example.dk", ""), ("c@example.dk", "")],
        ),
        ("Undisclosed recipients:;", []),
        (
            "a@example.dk, not an address, <>, b@example.dk",
            [("a@example.dk", ""), ("b@example.dk", "")],
        ),
        ("a@example.dk, Anna <A@EXAMPLE.DK>", [("a@example.dk", "")]),
        ("", []),
    ],
)
def test_it_parses_recipient_headers_into_lower_cased_addresses(
    value: str | bytes, expected: list[tuple[str, str]]
) -> None:
    parsed = parse(with_header("To", value))
    assert [(a.email, a.name) for a in parsed.to] == expected


def test_it_records_invalid_addresses_as_defects() -> None:
    parsed = parse(with_header("Cc", "ok@example.dk, not an address"))
    assert parsed.cc == (Address("ok@example.dk"),)
    assert any(d.startswith("Cc: invalid address") for d in parsed.defects)


def test_it_merges_repeated_recipient_headers() -> None:
    raw = message([("To", "a@example.dk"), ("To", "b@example.dk"), ("Cc", "c@example.dk")])
    parsed = parse(raw)
    assert [a.email for a in parsed.to] == ["a@example.dk", "b@example.dk"]
    assert parsed.participants == ("a@example.dk", "b@example.dk", "c@example.dk")


def test_it_reads_sender_and_reply_to() -> None:
    raw = message(
        [
            ("From", "Leadportal <NoReply@Leads-Eksempel.dk>, second@example.dk"),
            ("Reply-To", "=?utf-8?b?TWFqYSBOw7hyZ2FhcmQ=?= <maja@example.dk>"),
        ],
        text_part("Ny lead"),
    )
    parsed = parse(raw)
    assert parsed.from_address == Address("noreply@leads-eksempel.dk", "Leadportal")
    assert parsed.reply_to == (Address("maja@example.dk", "Maja Nørgaard"),)


def test_it_salvages_bare_addresses_from_an_unparseable_header() -> None:
    parsed = parse(with_header("To", 'broken "quote <x@example.dk> ((( y@example.dk'))
    assert {a.email for a in parsed.to} >= {"y@example.dk"}


def test_it_keeps_names_and_addresses_within_the_column_sizes() -> None:
    long_name = "A" * 1000
    raw = message([("From", f"{long_name} <a@example.dk>"), ("To", "x" * 400 + "@example.dk")])
    parsed = parse(raw)
    assert parsed.from_address is not None
    assert len(parsed.from_address.name) == 300
    assert parsed.to == ()


# --- subject -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tilbud på rengøring", "Tilbud på rengøring"),
        ("=?utf-8?Q?Tilbud_p=C3=A5_reng=C3=B8ring?=", "Tilbud på rengøring"),
        ("=?utf-8?q?Tilbud_p=C3=A5_reng=C3=B8ring?=", "Tilbud på rengøring"),
        ("=?iso-8859-1?q?K=E6re_kunde?=", "Kære kunde"),
        ("=?UTF-8?B?w6bDuMOl?=", "æøå"),
        ("=?utf-8?b?w6bDuMOl?=", "æøå"),
        ("=?utf-8?q?=C3?= =?utf-8?q?=A6ble?=", "æble"),
        ("=?utf-8?b?w6bD?= =?utf-8?b?uMOl?=", "æøå"),
        ("=?utf-8?q?Hej?= =?utf-8?q?_med_dig?=", "Hej med dig"),
        ("Re: =?utf-8?q?Tilbud_p=C3=A5?= rengøring", "Re: Tilbud på rengøring"),
        ("=?utf-8?q?uden_afslutning", "uden afslutning"),
        ("=?utf-8?b?w6bDuM?=", "æø"),
        ("=?utf-8*da?q?dansk_=C3=A6?=", "dansk æ"),
        ("Tilbud   på\r\n\t rengøring  ", "Tilbud på rengøring"),
        (b"R\xc3\xa6kke \xc3\xb8", "Række ø"),
        (b"R\xe6kke \xf8", "Række ø"),
        ("Pris =? 100 kr", "Pris =? 100 kr"),
        ("", ""),
    ],
)
def test_it_decodes_subjects(value: str | bytes, expected: str) -> None:
    assert parse(with_header("Subject", value)).subject == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=?x-foo?q?abc_=C3=A6?=", "abc æ"),
        ("=?x-foo?q?abc_=E6?=", "abc æ"),
        ("=?base64?q?abc?=", "abc"),
    ],
)
def test_it_decodes_words_in_unknown_charsets_and_records_it(value: str, expected: str) -> None:
    parsed = parse(with_header("Subject", value))
    assert parsed.subject == expected
    assert any("unknown charset" in d for d in parsed.defects)


def test_it_gives_an_empty_subject_when_the_header_is_missing() -> None:
    assert parse(message([("From", "a@example.dk")], text_part("x"))).subject == ""


# --- date ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 03 Mar 2025 10:00:00 +0100", datetime(2025, 3, 3, 9, 0, tzinfo=UTC)),
        ("3 Mar 2025 10:00:00 -0000", datetime(2025, 3, 3, 10, 0, tzinfo=UTC)),
        ("Mon, 3 Mar 2025 10:00:00 GMT", datetime(2025, 3, 3, 10, 0, tzinfo=UTC)),
        ("Mon, 03 Mar 2025 23:30:00 -0500", datetime(2025, 3, 4, 4, 30, tzinfo=UTC)),
        ("not a date", GMAIL_DATE),
        ("Mon, 03 Mar 1900 10:00:00 +0000", GMAIL_DATE),
        ("Mon, 03 Mar 9999 23:59:59 -2359", GMAIL_DATE),
        ("", GMAIL_DATE),
    ],
)
def test_it_parses_the_date_to_utc_falling_back_to_gmails(value: str, expected: datetime) -> None:
    parsed = parse(with_header("Date", value), internal_date=GMAIL_DATE)
    assert parsed.sent_at == expected
    assert parsed.sent_at is not None
    assert parsed.sent_at.utcoffset() == timedelta(0)


def test_it_uses_gmails_date_when_the_header_is_missing_and_converts_it_to_utc() -> None:
    copenhagen = datetime(2025, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    parsed = parse(message([("From", "a@example.dk")]), internal_date=copenhagen)
    assert parsed.sent_at == datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    assert parsed.sent_at is not None
    assert parsed.sent_at.tzinfo == UTC


def test_it_has_no_date_when_both_are_missing_or_unusable() -> None:
    assert parse(message([("From", "a@example.dk")])).sent_at is None
    garbled = parse(with_header("Date", "32 Smarch 20x5"))
    assert garbled.sent_at is None
    assert any("Date" in d for d in garbled.defects)


@pytest.mark.parametrize(
    ("value", "year"),
    [
        ("Mon, 01 Jan 0001 00:00:00 +0000", None),  # the library read it as 2001
        ("Mon, 01 Jan 0999 00:00:00 +0000", None),
        ("Mon, 01 Jan 2001 00:00:00 +0000", 2001),
        ("Mon, 1 Jan 01 00:00:00 +0000", 2001),  # RFC 5322's obsolete two-digit year
    ],
)
def test_a_year_is_read_as_written(value: str, year: int | None) -> None:
    parsed = parse(with_header("Date", value))
    assert (parsed.sent_at.year if parsed.sent_at else None) == year


# --- message ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<Abc.123@Mail.Example.dk>", "Abc.123@Mail.Example.dk"),
        ("   <a@b>  ", "a@b"),
        ("a@b", "a@b"),
        ("< a@b >", "a@b"),
        ("<a\r\n @b>", "a@b"),
        ("<a@b> (Anna's message)", "a@b"),
        ("Your message of Monday <x@y>", "x@y"),
        ("Your message of Monday x@y", "x@y"),
        ("<12345>", "12345"),
        ("12345", "12345"),
        ("no id here", None),
        ("<>", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_it_normalises_message_ids(value: str | None, expected: str | None) -> None:
    assert normalise_message_id(value) == expected


def test_it_accepts_header_objects_from_other_email_policies() -> None:
    value = Header("<a@example.dk> <b@example.dk>")
    assert normalise_message_id(value) == "a@example.dk"  # type: ignore[arg-type]
    assert parse_references(value) == ("a@example.dk", "b@example.dk")  # type: ignore[arg-type]


def test_it_cuts_message_ids_to_the_column_size() -> None:
    result = normalise_message_id("<" + "x" * 2000 + "@example.dk>")
    assert result is not None
    assert len(result) == 998


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@x> <b@x>\r\n <a@x>", ("a@x", "b@x")),
        ("<a@x>,<b@x>", ("a@x", "b@x")),
        ("<c@x>\t<b@x> <a@x>", ("c@x", "b@x", "a@x")),
        ("junk <a@x> c@d more", ("a@x", "c@d")),
        ("<a@x> <>", ("a@x",)),
        ("", ()),
        (None, ()),
    ],
)
def test_it_parses_references_in_order_without_duplicates(
    value: str | None, expected: tuple[str, ...]
) -> None:
    assert parse_references(value) == expected


def test_it_reads_threading_headers_from_the_message() -> None:
    raw = message(
        [
            ("Message-ID", " <Reply-2@Example.dk> "),
            ("In-Reply-To", "<orig-1@example.dk>"),
            ("References", "<root@example.dk>\r\n <orig-1@example.dk>"),
            ("References", "<orig-1@example.dk> <extra@example.dk>"),
        ],
        text_part("Tak"),
    )
    parsed = parse(raw)
    assert parsed.rfc822_message_id == "Reply-2@Example.dk"
    assert parsed.in_reply_to == "orig-1@example.dk"
    assert parsed.references == ("root@example.dk", "orig-1@example.dk", "extra@example.dk")


def test_it_has_no_ids_when_the_headers_are_missing() -> None:
    parsed = parse(message([("From", "a@example.dk")], text_part("x")))
    assert (parsed.rfc822_message_id, parsed.in_reply_to, parsed.references) == (None, None, ())


# --- direction and pass-through ------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "labels", "own", "expected"),
    [
        ("info@rendetalje.dk", (), ("rendetalje.dk",), Direction.OUTBOUND),
        ("Info@RENDETALJE.DK", (), ("rendetalje.dk",), Direction.OUTBOUND),
        ("bo@mail.rendetalje.dk", (), ("rendetalje.dk",), Direction.OUTBOUND),
        ("bo@rendetalje.dk", (), ("RenDetalje.dk",), Direction.OUTBOUND),
        ("bo@notrendetalje.dk", (), ("rendetalje.dk",), Direction.INBOUND),
        ("bo@rendetalje.dk.example.com", (), ("rendetalje.dk",), Direction.INBOUND),
        ("kunde@example.dk", ("INBOX", "SENT"), ("rendetalje.dk",), Direction.OUTBOUND),
        ("kunde@example.dk", ("INBOX",), ("rendetalje.dk",), Direction.INBOUND),
        ("kunde@example.dk", (), ("other.dk", "example.dk"), Direction.OUTBOUND),
        ("kunde@example.dk", (), (), Direction.INBOUND),
        (None, (), ("rendetalje.dk",), Direction.INBOUND),
        (None, ("SENT",), ("rendetalje.dk",), Direction.OUTBOUND),
    ],
)
def test_it_decides_the_direction(
    sender: str | None, labels: tuple[str, ...], own: tuple[str, ...], expected: Direction
) -> None:
    headers = [("From", sender)] if sender else [("To", "x@example.dk")]
    raw = message(headers, text_part("x"))
    parsed = parse_message(
        raw, gmail_message_id="m", gmail_thread_id="t", labels=labels, own_domains=own
    )
    assert parsed.direction == expected
    assert direction_of(parsed.from_address, labels, own) == expected


def test_it_treats_a_single_own_domain_string_as_one_domain() -> None:
    raw = message([("From", "kunde@example.k")], text_part("x"))
    parsed = parse_message(raw, gmail_message_id="m", gmail_thread_id="t", own_domains="dk.k")
    assert parsed.direction == Direction.INBOUND


def test_it_passes_gmail_fields_through_and_counts_raw_bytes() -> None:
    raw = message(BASIC_HEADERS, text_part("Hej"))
    parsed = parse_message(
        raw,
        gmail_message_id="18c0ffee",
        gmail_thread_id="18c0ff00",
        labels=["INBOX", "CATEGORY_UPDATES"],
        history_id="987654",
    )
    assert (parsed.gmail_message_id, parsed.gmail_thread_id) == ("18c0ffee", "18c0ff00")
    assert parsed.labels == ("INBOX", "CATEGORY_UPDATES")
    assert parsed.history_id == "987654"
    assert parsed.size_bytes == len(raw)
    assert parsed.defects == ()


# --- snippet -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "length", "expected"),
    [
        ("Hej  med\n\n dig", 200, "Hej med dig"),
        ("   \n\t ", 200, ""),
        ("abcdef ghij", 8, "abcdef g"),
        ("abcdef ghij", 7, "abcdef"),
        ("æøå " * 100, 11, "æøå æøå æøå"),
        ("x" * 500, 200, "x" * 200),
        ("anything", 0, ""),
    ],
)
def test_it_makes_snippets(text: str, length: int, expected: str) -> None:
    assert snippet_of(text, length) == expected


def test_the_snippet_is_the_start_of_the_body() -> None:
    words = " ".join(f"ord{i}" for i in range(200))
    parsed = parse(message(BASIC_HEADERS, text_part(words.replace(" ", "\n  "))))
    assert parsed.snippet == words[:200].rstrip()
