"""What a line of a lead mail is, apart from labels: heading, divider, footer or mail wrapping."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_NEWLINES = re.compile(r"\r\n|\r|\u2028|\u2029|\x85")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u200b-\u200d\ufeff]")
_QUOTE = re.compile(r"^(?:\s*>)+")

_DIVIDER = re.compile(r"^(?:_{3,}|-{3,}|={3,}|\*{3,})$")
# "-- " is the signature delimiter; what follows is the sender's signature, not the lead.
_SIGNATURE = re.compile(
    r"^(?:--|denne (?:e-?)?mail er (?:sendt|genereret|automatisk)\b.*)$", re.IGNORECASE
)
_CLOSING = re.compile(
    r"^(?:med )?(?:venlig(?:st)?|de bedste|mange) hilsen(?:er)?\b[ ,]*|^mvh\b[ ,.]*|"
    r"^(?:best |kind )?regards\b[ ,]*|^hilsen\b[ ,]*",
    re.IGNORECASE,
)
_FORWARD_SEPARATOR = re.compile(
    r"^(?:-{2,}\s*(?:forwarded message|original message|videresendt (?:meddelelse|besked|mail)|"
    r"oprindelig (?:meddelelse|besked|mail))\s*-{2,}|"
    r"(?:begin forwarded message|start på videresendt (?:meddelelse|besked)):)$",
    re.IGNORECASE,
)
_ATTRIBUTION = re.compile(
    r"^(?:den|d\.|on|le|am)\b.{4,200}\b(?:skrev|wrote|schrieb|a écrit)\b[^:]{0,80}:$",
    re.IGNORECASE,
)
_MAIL_HEADER = re.compile(
    r"^(?P<name>from|fra|date|dato|sent|sendt|subject|emne|to|til|cc|bcc|reply-to|svar til)"
    r"\s*:\s*\S",
    re.IGNORECASE,
)
_SENDER_HEADERS = frozenset({"from", "fra"})
_DECORATION = " \t*#=_-:"


def normalise_lines(text: str) -> list[str]:
    """Split text into lines with CRLF, tabs, odd spaces and "> " quote markers smoothed away."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    return [
        _SPACES.sub(" ", _QUOTE.sub("", line)).strip()
        for line in _NEWLINES.sub("\n", text).split("\n")
    ]


def fold(text: str) -> str:
    """Case- and space-insensitive form of a label or heading."""
    return " ".join(text.lower().split())


def is_divider(line: str) -> bool:
    return _DIVIDER.match(line) is not None


def is_signature(line: str) -> bool:
    return _SIGNATURE.match(line) is not None


def is_wrapper(line: str) -> bool:
    """A forward separator or a reply attribution ("Den 9. okt. 2025 skrev …:")."""
    return _FORWARD_SEPARATOR.match(line) is not None or _ATTRIBUTION.match(line) is not None


def heading_of(line: str, headings: frozenset[str]) -> bool:
    """True when the line is one of the format's section headings ("Kontaktoplysninger")."""
    core = line.strip(_DECORATION)
    return bool(core) and len(core) <= 60 and fold(core) in headings


def closing_footer(lines: Sequence[str], i: int, signers: Sequence[str]) -> bool:
    """True when line `i` is the platform signing off: "Med venlig hilsen" + its name.

    A customer's "Mvh Æbbe" is part of their message; only the platform's own name (on the same
    line or the next non-blank one) makes it a footer.
    """
    match = _CLOSING.match(lines[i])
    if match is None or not signers:
        return False
    rest = lines[i][match.end() :].strip()
    if not rest:
        nxt = next((line for line in lines[i + 1 : i + 4] if line), "")
        rest = nxt
    return any(fold(rest).startswith(fold(name)) for name in signers)


def mail_header_lines(lines: Sequence[str]) -> set[int]:
    """Indexes of quoted mail headers ("Fra: …", "Emne: …") of forwarded mail: never lead data.

    A block counts when it has at least two header lines in a row and one of them names the
    sender, as every mail client writes them above forwarded mail.
    """
    found: set[int] = set()
    i = 0
    while i < len(lines):
        j = i
        names: set[str] = set()
        while j < len(lines) and (match := _MAIL_HEADER.match(lines[j])) is not None:
            names.add(match.group("name").lower())
            j += 1
        if j - i >= 2 and names & _SENDER_HEADERS:
            found.update(range(i, j))
        i = max(j, i + 1)
    return found
