"""Table-driven tests for the pure email parser (leadflow.mail.mime)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header

import pytest

from leadflow.mail.message import Address, Attachment
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
    attachment,
    embedded,
    leaf,
    message,
    multipart,
    nested,
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


# --- body ----------------------------------------------------------------------------------

HTML_TABLE = (
    "<html><head><style>td {color: red}</style></head><body>"
    "<p>Ny henvendelse</p><table><tr><th>Navn</th><td>Anna Kundesen</td></tr>"
    "<tr><th>By</th><td>&Aring;rhus</td></tr></table></body></html>"
)


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        (text_part("Hej med dig\r\nLinje to"), "Hej med dig\nLinje to"),
        (text_part("Kære kunde", cte="quoted-printable"), "Kære kunde"),
        (text_part("Kære kunde", cte="base64"), "Kære kunde"),
        (text_part("Kære kunde", charset="iso-8859-1", cte="base64"), "Kære kunde"),
        (text_part("a" * 100 + " æøå", cte="quoted-printable"), "a" * 100 + " æøå"),
        (
            multipart(
                "alternative", [text_part("Ren tekst"), text_part("<b>HTML</b>", subtype="html")]
            ),
            "Ren tekst",
        ),
        (
            multipart("alternative", [text_part("<b>HTML</b>", subtype="html"), text_part("Ren")]),
            "Ren",
        ),
        (
            multipart("alternative", [text_part("<p>Kun <b>HTML</b></p>", subtype="html")]),
            "Kun HTML",
        ),
        (
            multipart(
                "mixed",
                [
                    multipart(
                        "alternative",
                        [text_part("Brødtekst"), text_part("<p>x</p>", subtype="html")],
                    ),
                    attachment("tilbud.pdf", b"%PDF-1.4 invented"),
                ],
            ),
            "Brødtekst",
        ),
        (
            multipart(
                "related",
                [
                    text_part('<p>Se billedet</p><img src="cid:logo">', subtype="html"),
                    leaf("image/png", b"\x89PNG", cte="base64", headers=[("Content-ID", "<logo>")]),
                ],
            ),
            "Se billedet",
        ),
        (multipart("mixed", [text_part("Første"), text_part("Anden")]), "Første\n\nAnden"),
        (
            multipart(
                "mixed",
                [
                    text_part("Se vedhæftet"),
                    embedded(message(BASIC_HEADERS, text_part("Videresendt"))),
                ],
            ),
            "Se vedhæftet",
        ),
        (embedded(message(BASIC_HEADERS, text_part("Kun videresendt"))), ""),
        (text_part("Tekst som fil", headers=[("Content-Disposition", "attachment")]), ""),
        (leaf("application/pdf", b"%PDF", cte="base64"), ""),
        (text_part(b"\x00Null\x00 og\r\nCR\rLF\x07"), "Null og\nCR\nLF"),
        (text_part(""), ""),
    ],
)
def test_it_picks_and_decodes_the_body(part: bytes, expected: str) -> None:
    assert parse(message(BASIC_HEADERS, part)).body_text == expected


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        (text_part(b"K\xe6re kunde", charset="us-ascii"), "Kære kunde"),
        (text_part("Kære kunde".encode(), charset="iso-8859-1"), "Kære kunde"),
        (text_part(b"K\xe6re kunde", charset="utf-8"), "Kære kunde"),
        (text_part(b"K\xe6re kunde", charset="x-foo"), "Kære kunde"),
        (text_part("Kære kunde".encode(), charset="x-foo"), "Kære kunde"),
        (text_part(b"K\xe6re kunde", charset=None), "Kære kunde"),
        (text_part("Kære kunde".encode(), charset=None), "Kære kunde"),
        (text_part(b"Kun \xc3\xa6 og \xff", charset="utf-8"), "Kun æ og \ufffd"),
        (text_part("Привет".encode("koi8-r"), charset="koi8-r"), "Привет"),
        (text_part(b"+AGQ-ata", charset="utf-7"), "data"),
        (text_part(b"lone +2D0- surrogate", charset="utf-7"), "lone ? surrogate"),
    ],
)
def test_it_decodes_unknown_and_lying_charsets(part: bytes, expected: str) -> None:
    assert parse(message(BASIC_HEADERS, part)).body_text == expected


def test_it_turns_an_html_only_body_with_a_table_into_lines() -> None:
    parsed = parse(message(BASIC_HEADERS, text_part(HTML_TABLE, subtype="html")))
    lines = [line for line in parsed.body_text.splitlines() if line]
    assert lines == ["Ny henvendelse", "Navn Anna Kundesen", "By Århus"]


def base64_text(body: bytes) -> bytes:
    return (
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + body
    )


@pytest.mark.parametrize(
    "body",
    [
        b"S2\xe6yyyyre!!",  # invalid characters inside base64
        b"a",  # a single character cannot be base64
        b"====",
    ],
)
def test_it_tolerates_broken_base64(body: bytes) -> None:
    parsed = parse(message(BASIC_HEADERS, base64_text(body)))
    assert parsed.subject == "Tilbud"
    assert not any(d.startswith("internal error") for d in parsed.defects)


def test_it_decodes_base64_missing_its_padding() -> None:
    body = base64.b64encode("Kære kunde".encode()).rstrip(b"=")
    assert parse(message(BASIC_HEADERS, base64_text(body))).body_text == "Kære kunde"


# --- broken structure ----------------------------------------------------------------------


def test_it_re_splits_a_multipart_whose_boundary_does_not_match() -> None:
    body = multipart("mixed", [text_part("Hej fra formularen"), attachment("a.pdf", b"%PDF")])
    broken = body.replace(b'boundary="', b'boundary="wrong-', 1)
    parsed = parse(message(BASIC_HEADERS, broken))
    assert parsed.body_text == "Hej fra formularen"
    assert [a.filename for a in parsed.attachments] == ["a.pdf"]
    assert any("boundary" in d for d in parsed.defects)


def test_it_reads_a_multipart_without_any_boundary_as_text() -> None:
    raw = message(BASIC_HEADERS, b"Content-Type: multipart/mixed\r\n\r\nBare tekst\r\n")
    parsed = parse(raw)
    assert parsed.body_text == "Bare tekst"
    assert any("NoBoundaryInMultipartDefect" in d for d in parsed.defects)


def test_it_keeps_the_parts_of_a_multipart_missing_its_closing_boundary() -> None:
    body = multipart("mixed", [text_part("Hej"), attachment("b.pdf", b"%PDF-1.7")])
    cut = body[: body.rindex(b"--=_leadflow")]
    parsed = parse(message(BASIC_HEADERS, cut))
    assert parsed.body_text == "Hej"
    assert parsed.attachments == (Attachment("b.pdf", "application/pdf", 8),)


def test_it_walks_nested_multiparts_within_the_depth_cap() -> None:
    parsed = parse(message(BASIC_HEADERS, nested(40, text_part("Dybt begravet"))))
    assert parsed.body_text == "Dybt begravet"
    assert parsed.defects == ()


def test_it_survives_two_hundred_nested_multiparts() -> None:
    raw = message(BASIC_HEADERS, nested(200, text_part("For dybt")))
    parsed = parse(raw)
    assert parsed.subject == "Tilbud"
    assert parsed.body_text == ""
    assert any("nesting deeper than 50" in d for d in parsed.defects)


def test_it_keeps_the_headers_when_nesting_breaks_the_mime_parser() -> None:
    parsed = parse(message(BASIC_HEADERS, nested(3000, text_part("Absurd"))))
    assert parsed.subject == "Tilbud"
    assert parsed.from_address == Address("anna@kunde-eksempel.dk", "Anna Kundesen")
    assert any("headers only" in d for d in parsed.defects)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n",
        b"\x00" * 100,
        bytes(range(256)) * 4,
        b"From: a@example.dk",
        b"Subject: kun headers\r\nFrom: a@example.dk\r\n",
        b"Subject: ingen krop\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
        b"Content-Type: text/plain; charset*=''\r\n"
        b"Content-Disposition: attachment; filename*0*=x\r\n\r\n",
        b"Content-Type: message/rfc822\r\n\r\n",
        b"\xff\xfe" + "Subject: utf-16".encode("utf-16-le"),
        b": no name\r\n :\r\n\t\r\n\r\nbody",
    ],
)
def test_it_returns_a_parsed_message_for_degenerate_input(raw: bytes) -> None:
    parsed = parse(raw, internal_date=GMAIL_DATE)
    assert parsed.size_bytes == len(raw)
    assert parsed.sent_at == GMAIL_DATE
    assert parsed.gmail_message_id == "msg-1"
    assert not any(d.startswith("internal error") for d in parsed.defects)


def test_it_accepts_bytearray_and_memoryview_input() -> None:
    raw = message(BASIC_HEADERS, text_part("Hej"))
    assert parse(bytearray(raw)).body_text == "Hej"  # type: ignore[arg-type]
    assert parse(memoryview(raw)).body_text == "Hej"  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", [None, 10**12, "From: a@example.dk"])
def test_it_turns_a_non_bytes_argument_into_a_defect_instead_of_raising(raw: object) -> None:
    parsed = parse_message(
        raw,  # type: ignore[arg-type]
        gmail_message_id="m",
        gmail_thread_id="t",
        labels=("SENT",),
        internal_date=GMAIL_DATE,
    )
    assert parsed.defects == ("internal error: TypeError",)
    assert (parsed.sent_at, parsed.direction, parsed.body_text) == (GMAIL_DATE, "outbound", "")


# --- body size cap -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cap", "expected", "truncated"),
    [
        ("abcdef", 6, "abcdef", False),
        ("abcdef", 5, "abcde", True),
        ("æøåæøå", 12, "æøåæøå", False),
        ("æøåæøå", 11, "æøåæø", True),
        ("æøåæøå", 10, "æøåæø", True),
        ("€€€", 8, "€€", True),
        ("😀x", 3, "", True),
        ("text", 0, "", True),
    ],
)
def test_it_caps_the_body_in_utf8_bytes_on_a_character_boundary(
    text: str, cap: int, expected: str, truncated: bool
) -> None:
    parsed = parse(message(BASIC_HEADERS, text_part(text)), max_body_bytes=cap)
    assert (parsed.body_text, parsed.body_truncated) == (expected, truncated)


@pytest.mark.slow
def test_it_truncates_a_25_mb_message_to_the_cap() -> None:
    line = "Kære kunde, her er linje nummer {:08d} af en meget lang besked. æøå\n"
    text = "".join(line.format(i) for i in range(25_000_000 // len(line)))
    raw = message(BASIC_HEADERS, text_part(text, cte="quoted-printable"))
    assert len(raw) > 25_000_000
    parsed = parse(raw)
    assert parsed.body_truncated
    size = len(parsed.body_text.encode("utf-8"))
    assert 1_000_000 - 3 <= size <= 1_000_000
    assert text.startswith(parsed.body_text)
    assert parsed.snippet.startswith("Kære kunde, her er linje nummer 00000000")


@pytest.mark.slow
def test_it_counts_a_25_mb_attachment_without_reading_it_into_the_body() -> None:
    blob = bytes(range(256)) * (25_000_000 // 256)
    raw = message(
        BASIC_HEADERS,
        multipart("mixed", [text_part("Billeder vedhæftet"), attachment("fotos.zip", blob)]),
    )
    parsed = parse(raw)
    assert parsed.body_text == "Billeder vedhæftet"
    assert not parsed.body_truncated
    assert parsed.attachments == (Attachment("fotos.zip", "application/pdf", len(blob)),)


def test_it_flags_a_huge_html_body_as_truncated() -> None:
    rows = "".join(f"<tr><td>Række {i}</td><td>værdi</td></tr>" for i in range(60_000))
    html = f"<table>{rows}</table>"
    parsed = parse(message(BASIC_HEADERS, text_part(html, subtype="html")), max_body_bytes=10_000)
    assert parsed.body_truncated
    assert len(parsed.body_text.encode()) <= 10_000
    assert parsed.body_text.startswith("Række 0 værdi")


def test_it_drops_inline_data_uris_before_converting_html() -> None:
    picture = "data:image/png;base64," + "QUFB" * 200_000
    html = f'<p><img src="{picture}">Tekst efter billedet</p>'
    parsed = parse(message(BASIC_HEADERS, text_part(html, subtype="html")), max_body_bytes=1_000)
    assert parsed.body_text == "Tekst efter billedet"
    assert not parsed.body_truncated


# --- attachments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        (attachment("tilbud.pdf", b"12345"), Attachment("tilbud.pdf", "application/pdf", 5)),
        (
            attachment(
                "=?utf-8?q?K=C3=B8kken_=C3=A6=C3=B8=C3=A5.jpg?=", b"jpg", mime_type="image/jpeg"
            ),
            Attachment("Køkken æøå.jpg", "image/jpeg", 3),
        ),
        (
            leaf(
                "application/pdf",
                b"pdf",
                cte="base64",
                headers=[("Content-Disposition", "attachment; filename*=utf-8''K%C3%B8kken.pdf")],
            ),
            Attachment("Køkken.pdf", "application/pdf", 3),
        ),
        (
            leaf(
                "application/pdf",
                b"pdf",
                cte="base64",
                headers=[("Content-Disposition", b'attachment; filename="K\xf8kken.pdf"')],
            ),
            Attachment("Køkken.pdf", "application/pdf", 3),
        ),
        (
            leaf(
                "image/png",
                b"png",
                cte="base64",
                headers=[
                    ("Content-Disposition", b"inline; filename*=utf-8''\xc3\xa6ble%C3%A6.png")
                ],
            ),
            Attachment("æbleæ.png", "image/png", 3),
        ),
        (
            leaf(
                "application/pdf",
                b"pdf",
                cte="base64",
                headers=[
                    (
                        "Content-Disposition",
                        "attachment; filename*0*=utf-8''a%C3; filename*1*=%A6.pdf",
                    )
                ],
            ),
            Attachment("aæ.pdf", "application/pdf", 3),
        ),
        (
            leaf(
                "application/pdf",
                b"pdf",
                cte="base64",
                headers=[("Content-Disposition", "attachment; filename*=x-foo''%E6ble.pdf")],
            ),
            Attachment("æble.pdf", "application/pdf", 3),
        ),
        (
            leaf('application/octet-stream; name="plan.xlsx"', b"xlsx!", cte="base64"),
            Attachment("plan.xlsx", "application/octet-stream", 5),
        ),
        (
            leaf("image/png", b"\x89PNG\r\n", cte="base64", headers=[("Content-ID", "<logo@x>")]),
            Attachment(None, "image/png", 6),
        ),
        (attachment(None, b"ab", mime_type="text/csv"), Attachment(None, "text/csv", 2)),
        (
            attachment("noter.txt", b"hej", mime_type="text/plain", disposition="inline"),
            Attachment("noter.txt", "text/plain", 3),
        ),
        (
            embedded(message(BASIC_HEADERS, text_part("fwd"))),
            Attachment(None, "message/rfc822", len(message(BASIC_HEADERS, text_part("fwd")))),
        ),
    ],
)
def test_it_lists_attachment_metadata(part: bytes, expected: Attachment) -> None:
    raw = message(BASIC_HEADERS, multipart("mixed", [text_part("Se vedhæftet"), part]))
    parsed = parse(raw)
    assert parsed.body_text == "Se vedhæftet"
    assert parsed.attachments == (expected,)


def test_it_does_not_count_body_parts_as_attachments() -> None:
    alternative = multipart(
        "alternative", [text_part("Tekst"), text_part("<p>HTML</p>", subtype="html")]
    )
    parsed = parse(message(BASIC_HEADERS, alternative))
    assert parsed.attachments == ()


def test_it_lists_a_single_part_attachment_message() -> None:
    raw = message(BASIC_HEADERS, attachment("faktura.pdf", b"%PDF-1.4"))
    parsed = parse(raw)
    assert parsed.body_text == ""
    assert parsed.attachments == (Attachment("faktura.pdf", "application/pdf", 8),)


def test_it_does_not_list_the_attachments_inside_a_forwarded_message() -> None:
    forwarded = message(
        BASIC_HEADERS, multipart("mixed", [text_part("x"), attachment("inde.pdf", b"1")])
    )
    raw = message(BASIC_HEADERS, multipart("mixed", [text_part("Fwd"), embedded(forwarded)]))
    assert [a.mime_type for a in parse(raw).attachments] == ["message/rfc822"]


# --- Danish text in names and subjects -----------------------------------------------------


@pytest.mark.parametrize("charset", ["utf-8", "iso-8859-1"])
@pytest.mark.parametrize("encoding", ["q", "b"])
def test_it_decodes_danish_names_and_subjects(charset: str, encoding: str) -> None:
    def word(text: str) -> str:
        data = text.encode(charset)
        if encoding == "b":
            return f"=?{charset}?b?{base64.b64encode(data).decode()}?="
        return f"=?{charset}?q?" + "".join(f"={b:02X}" for b in data) + "?="

    raw = message(
        [
            ("From", f"{word('Søren Ærø')} <soren@kunde-eksempel.dk>"),
            ("To", f"{word('Åse Ølgaard')} <ase@kunde-eksempel.dk>"),
            ("Subject", word("Rengøring af trappeopgang på Åbyhøj")),
        ],
        text_part("Hej"),
    )
    parsed = parse(raw)
    assert parsed.from_address == Address("soren@kunde-eksempel.dk", "Søren Ærø")
    assert parsed.to == (Address("ase@kunde-eksempel.dk", "Åse Ølgaard"),)
    assert parsed.subject == "Rengøring af trappeopgang på Åbyhøj"
