"""Table-driven parser tests: bodies, charsets, structure, size cap, attachments."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from leadflow.mail.message import Address, Attachment
from leadflow.mail.mime import (
    parse_message,
)
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
