"""Property tests: the parser never raises, and its output keeps its promises on any input."""

from __future__ import annotations

import base64
import quopri
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import formataddr

from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.mail.message import ParsedMessage
from leadflow.mail.mime import parse_message, snippet_of
from leadflow.mail.mime.parts import payload_bytes
from leadflow.mail.mime.tree import parse_tree, walk
from leadflow.models import Direction
from tests.mail_samples import attachment, header_lines, leaf, multipart, text_part

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
OWN_DOMAINS = ("rendetalje.dk",)
SENDER_DOMAINS = [
    "rendetalje.dk",
    "RenDetalje.DK",
    "mail.rendetalje.dk",
    "notrendetalje.dk",
    "rendetalje.dk.example.com",
    "kunde-eksempel.dk",
]
LABELS = ["INBOX", "SENT", "UNREAD", "CATEGORY_UPDATES", "Label_7"]
CHARSETS = ["utf-8", "iso-8859-1", "us-ascii", "windows-1252", "x-foo", "utf-16", None]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-unknown"]
HEADER_NAMES = ["From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "References"]
HEADER_NAMES += ["In-Reply-To", "Content-Type", "Content-Transfer-Encoding", "X-Other"]

# Readable text without control characters, so round trips have one right answer.
readable = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\x85"
    )
    | st.sampled_from(" \næøåÆØÅ"),
    max_size=300,
)
one_line = readable.map(lambda s: s.replace("\n", " "))
local_part = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-",
    min_size=1,
    max_size=20,
)
address = st.builds(
    lambda local, domain: f"{local}@{domain}", local_part, st.sampled_from(SENDER_DOMAINS)
)
labels = st.lists(st.sampled_from(LABELS), max_size=4, unique=True)
fragments = st.sampled_from(
    [
        "=?utf-8?q?",
        "=?x-foo?b?",
        "?=",
        "=C3",
        "=A6",
        "<",
        ">",
        "@",
        ",",
        ";",
        ":",
        '"',
        "(",
        ")",
        "\r\n ",
        "\t",
        "\\",
        "æ",
        "\xff",
        "=?",
        "?b?",
        "anna@example.dk",
        "<id@x>",
    ]
)
header_value = st.lists(fragments | st.text(max_size=10), max_size=12).map("".join)


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_invariants(parsed: ParsedMessage, raw: bytes, cap: int) -> None:
    """What every ParsedMessage promises, whatever the input."""
    assert not any(d.startswith("internal error") for d in parsed.defects), parsed.defects
    assert parsed.size_bytes == len(raw)
    assert len(parsed.body_text.encode("utf-8")) <= cap
    assert "\r" not in parsed.body_text
    assert "\x00" not in parsed.body_text
    assert parsed.snippet == snippet_of(parsed.body_text)
    assert len(parsed.snippet) <= 200
    for addr in (parsed.from_address, *parsed.to, *parsed.cc, *parsed.reply_to):
        if addr is not None:
            assert addr.email == addr.email.strip().lower()
            assert "@" in addr.email
            assert len(addr.email) <= 320
            assert len(addr.name) <= 300
    for text in (parsed.subject, *(a.name for a in parsed.to)):
        assert text == text.strip()
        assert not any(ord(c) < 32 or ord(c) == 127 for c in text)
    for value in (parsed.subject, parsed.body_text, *parsed.references):
        value.encode("utf-8")  # storable: no lone surrogates
    assert parsed.sent_at is None or parsed.sent_at.utcoffset() == timedelta(0)
    assert all(a.size_bytes >= 0 for a in parsed.attachments)
    assert len(parsed.defects) <= 50


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=3000), cap=st.integers(min_value=0, max_value=500))
def test_it_never_raises_on_arbitrary_bytes(raw: bytes, cap: int) -> None:
    parsed = parse_message(raw, gmail_message_id="m", gmail_thread_id="t", max_body_bytes=cap)
    check_invariants(parsed, raw, cap)


@PROPERTY_SETTINGS
@given(
    headers=st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_value), max_size=10),
    body=st.binary(max_size=500),
    cap=st.integers(min_value=0, max_value=200),
)
def test_it_never_raises_on_garbled_headers(
    headers: list[tuple[str, str]], body: bytes, cap: int
) -> None:
    raw = (
        header_lines((name, value.encode("utf-8", "surrogateescape")) for name, value in headers)
        + b"\r\n"
        + body
    )
    parsed = parse_message(raw, gmail_message_id="m", gmail_thread_id="t", max_body_bytes=cap)
    check_invariants(parsed, raw, cap)


@st.composite
def leaf_parts(draw: st.DrawFn) -> bytes:
    """A text, HTML or attachment part with a random charset and transfer encoding."""
    kind = draw(st.sampled_from(["plain", "html", "attachment", "image"]))
    if kind in ("attachment", "image"):
        name = draw(st.none() | readable.map(lambda s: s.replace('"', "")[:40]))
        mime = "image/png" if kind == "image" else "application/octet-stream"
        return attachment(name, draw(st.binary(max_size=300)), mime_type=mime)
    charset = draw(st.sampled_from(CHARSETS))
    text = draw(readable)
    data = text.encode(charset if charset not in (None, "x-foo") else "utf-8", "replace")
    if kind == "html":
        data = b"<p>" + data + b"</p><table><tr><td>a</td><td>b</td></tr></table>"
    return text_part(data, subtype=kind, charset=charset, cte=draw(st.sampled_from(ENCODINGS)))


@st.composite
def mime_trees(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A random MIME tree: a leaf, or a multipart of random subtype over smaller trees."""
    if depth >= 4 or draw(st.booleans()):
        return draw(leaf_parts())
    children = draw(st.lists(mime_trees(depth + 1), min_size=1, max_size=3))
    subtype = draw(st.sampled_from(["mixed", "alternative", "related", "x-custom"]))
    boundary = f"b{depth}-" + draw(st.text(alphabet="abcdef0123456789", min_size=8, max_size=8))
    return multipart(subtype, children, boundary=boundary)


@PROPERTY_SETTINGS
@given(
    sender=address,
    name=one_line,
    recipients=st.lists(st.tuples(one_line, address), max_size=4),
    subject=one_line,
    tree=mime_trees(),
    message_labels=labels,
    cap=st.integers(min_value=0, max_value=2000),
)
def test_structured_messages_keep_every_promise(
    sender: str,
    name: str,
    recipients: list[tuple[str, str]],
    subject: str,
    tree: bytes,
    message_labels: list[str],
    cap: int,
) -> None:
    headers = [
        ("From", formataddr((name, sender), charset="utf-8")),
        ("To", ", ".join(formataddr(r, charset="utf-8") for r in recipients)),
        ("Subject", Header(subject, "utf-8").encode()),
        ("Date", "Tue, 04 Mar 2025 09:15:00 +0100"),
    ]
    raw = header_lines(headers) + tree
    parsed = parse_message(
        raw,
        gmail_message_id="m",
        gmail_thread_id="t",
        labels=message_labels,
        own_domains=OWN_DOMAINS,
        max_body_bytes=cap,
    )
    check_invariants(parsed, raw, cap)
    domain = sender.rpartition("@")[2].lower()
    own = domain == "rendetalje.dk" or domain.endswith(".rendetalje.dk")
    expected = Direction.OUTBOUND if own or "SENT" in message_labels else Direction.INBOUND
    assert parsed.direction == expected
    assert parsed.from_address is not None
    assert parsed.from_address.email == sender.lower()
    assert parsed.from_address.name == " ".join(name.split())
    assert parsed.subject == " ".join(subject.split())
    assert [a.email for a in parsed.to] == list(dict.fromkeys(r[1].lower() for r in recipients))
    assert parsed.sent_at == datetime(2025, 3, 4, 8, 15, tzinfo=UTC)


@PROPERTY_SETTINGS
@given(text=readable, charset=st.sampled_from(["utf-8", "utf-16", "iso-8859-1"]))
def test_a_base64_text_body_round_trips(text: str, charset: str) -> None:
    data = text.encode(charset, "replace")
    text = data.decode(charset)
    if charset == "iso-8859-1" and not data.isascii() and is_utf8(data):
        text = data.decode("utf-8")  # Latin-1 that is valid UTF-8 is taken to be UTF-8
    raw = header_lines([("From", "a@example.dk")]) + text_part(data, charset=charset, cte="base64")
    parsed = parse_message(raw, gmail_message_id="m", gmail_thread_id="t")
    assert parsed.body_text == text.strip("\n").rstrip()
    assert not parsed.body_truncated


@PROPERTY_SETTINGS
@given(text=readable, cap=st.integers(min_value=0, max_value=400))
def test_a_capped_body_is_the_longest_prefix_that_fits(text: str, cap: int) -> None:
    body = leaf("text/plain; charset=utf-8", text.encode(), cte="base64")
    raw = header_lines([("From", "a@example.dk")]) + body
    parsed = parse_message(raw, gmail_message_id="m", gmail_thread_id="t", max_body_bytes=cap)
    full = text.strip("\n").rstrip()
    assert full.startswith(parsed.body_text)
    assert parsed.body_truncated == (parsed.body_text != full)
    if parsed.body_truncated:
        next_char = full[len(parsed.body_text)]
        assert len((parsed.body_text + next_char).encode()) > cap


@PROPERTY_SETTINGS
@given(
    data=st.binary(max_size=5000),
    encoding=st.sampled_from(["base64", "quoted-printable", "7bit", "8bit", ""]),
    linesep=st.sampled_from([b"\n", b"\r\n"]),
)
def test_an_attachment_size_is_its_decoded_size_without_decoding(
    data: bytes, encoding: str, linesep: bytes
) -> None:
    if encoding == "base64":
        body = base64.encodebytes(data)
    elif encoding == "quoted-printable":
        body = quopri.encodestring(data)
    else:  # lines as they are, in the message's line endings
        body = b"\n".join(data.replace(b"\r", b"").split(b"\n")) + b"\n"
    cte = f"Content-Transfer-Encoding: {encoding}\n".encode() if encoding else b""
    raw = (
        b"From: kunde@example.net\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n'
        b"Content-Type: text/plain\n\nSe bilag.\n--b\n"
        b'Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="b"\n'
        + cte
        + b"\n"
        + body
        + b"--b--\n"
    ).replace(b"\n", linesep)

    parsed = parse_message(raw, gmail_message_id="m", gmail_thread_id="t")

    [found] = parsed.attachments
    tree, _ = parse_tree(raw, [])
    leaf = next(part for part in walk(tree, []) if part.get_filename())
    assert found.size_bytes == len(payload_bytes(leaf))
