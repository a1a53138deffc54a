"""Label-value extraction: "Label: value" and bare "Label value" lines, free text, unknown labels.

Tolerant to case, spacing, a missing colon, blank lines and a value on the next line. A free-text
answer ("Kommentar: …") runs over several lines and ends at a section heading, a footer, mail
wrapping, or a line that is a label of the format whose value has the shape of its field (see
`shapes`). Labelled lines the format does not know are kept as `detail` hits, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from leadflow.leads.parsers.lines import (
    closing_footer,
    fold,
    heading_of,
    is_divider,
    is_signature,
    is_wrapper,
    mail_header_lines,
    normalise_lines,
)
from leadflow.leads.parsers.shapes import fits
from leadflow.leads.parsers.values import has_postal_code

MULTILINE_KEYS = frozenset({"message"})
DETAIL = "detail"
"""Key of labelled lines kept as they are: unknown labels and a format's informational ones."""

_POSTAL_LINE = re.compile(r"^(?:DK\s*-?\s*)?[1-9]\d{3}\s+[^\W\d_]", re.IGNORECASE)
# A label the parser does not know: a few words, no digits or address characters, then a colon
# (or a question mark when it is a question), then the answer (a question's may be on the next
# line).
_UNKNOWN = re.compile(
    r"^(?:[-*•·]\s*)?(?P<label>[^\W\d_][^\d:?@<>,;\"=|/\\]{0,80}?)\s*"
    r"(?P<sep>\?\s*:?|:)\s*(?P<value>.*)$"
)
_QUESTION_WORDS = frozenset(
    {
        "hvor", "hvad", "hvilken", "hvilket", "hvilke", "hvornår", "hvordan", "hvem", "hvorfor",
        "har", "er", "skal", "ønsker", "ønskes", "må", "kan", "vil", "bor", "bruger", "findes",
        "kommer",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Hit:
    """One labelled value: field key, the label as written, the value, written with a colon."""

    key: str
    label: str
    value: str
    colon: bool


@dataclass(frozen=True, slots=True)
class Fields:
    """Label hits of one body, in body order."""

    hits: tuple[Hit, ...]

    def values(self, key: str) -> list[str]:
        """Return the non-empty values for `key`, colon-labelled ones first."""
        colon = [h.value for h in self.hits if h.key == key and h.colon and h.value]
        return colon + [h.value for h in self.hits if h.key == key and not h.colon and h.value]

    def first(self, key: str) -> str | None:
        """Return the preferred value for `key`, or None."""
        found = self.values(key)
        return found[0] if found else None

    def keys(self) -> set[str]:
        """Return the known field keys that have a non-empty value."""
        return {h.key for h in self.hits if h.value and h.key != DETAIL}


def _question(label: str) -> bool:
    """A platform's question: "Har I husdyr", "På hvilken etage …" (not "I weekenden")."""
    words = label.lower().split()
    if len(words) < 2:
        return False
    return words[0] in _QUESTION_WORDS or (words[0] in {"på", "i"} and words[1][:5] == "hvilk")


def unknown_label(line: str) -> Hit | None:
    """Return the line as a `detail` hit when it is "Some label: answer", else None."""
    match = _UNKNOWN.match(line)
    if match is None:
        return None
    label, value = " ".join(match.group("label").split()), match.group("value").strip()
    question, colon = _question(label), match.group("sep").endswith(":")
    if not (colon or question) or len(label.split()) > (12 if question else 5):
        return None
    if value.startswith("//") or not (value or (colon and question)):
        return None  # a URL; only a question may have its answer on the next line
    return Hit(DETAIL, label, " ".join(value.split()), colon)


class LabelMatcher:
    """Finds the labelled values of one lead format in a mail body."""

    def __init__(
        self,
        spec: Mapping[str, Sequence[str]],
        *,
        headings: Sequence[str] = (),
        signers: Sequence[str] = (),
    ) -> None:
        self._key_by_label = {fold(label): key for key, labels in spec.items() for label in labels}
        labels = sorted(self._key_by_label, key=len, reverse=True)
        alternation = "|".join(r"\s+".join(re.escape(w) for w in label.split()) for label in labels)
        self._line = re.compile(
            rf"^(?:[-*•·]\s*)?(?P<label>{alternation})(?:\s*\([^()]{{0,40}}\))?\s*\??"
            r"(?:\s*(?P<colon>:)|(?=\s|$))\s*(?P<value>.*)$",
            re.IGNORECASE,
        )
        self.headings = frozenset(fold(h) for h in headings)
        self.signers = tuple(signers)
        self._last: tuple[str, Fields] | None = None

    def label(self, line: str) -> Hit | None:
        """Return the known label hit on `line`, or None."""
        match = self._line.match(line)
        if match is None:
            return None
        key = self._key_by_label.get(fold(match.group("label")))
        if key is None:
            return None
        value = match.group("value").lstrip(": ").strip()
        label = " ".join(match.group("label").split())
        return Hit(key, label, value, match.group("colon") is not None)

    def extract(self, text: str) -> Fields:
        """Return every labelled value in `text`."""
        # Detection and parsing read the same body one after the other: remember the last one.
        last = self._last
        if last is not None and last[0] is text:
            return last[1]
        fields = Fields(tuple(_Reader(self, normalise_lines(text)).hits()))
        self._last = (text, fields)
        return fields


_RESET, _FOOTER, _DIVIDER = "reset", "footer", "divider"


class _Reader:
    """One pass over the lines of one body; each line is classified once."""

    def __init__(self, matcher: LabelMatcher, lines: list[str]) -> None:
        self.m = matcher
        self.lines = lines
        self.labelled = [matcher.label(line) if line else None for line in lines]
        headers = mail_header_lines(lines)
        self.heading = [bool(line) and heading_of(line, matcher.headings) for line in lines]
        self.mark = [self._mark(j, j in headers) for j in range(len(lines))]

    def _mark(self, j: int, header: bool) -> str | None:
        line = self.lines[j]
        if not line:
            return None
        if header or is_wrapper(line):
            return _RESET  # quoted or forwarded mail starts: the lead may follow
        if is_signature(line) or closing_footer(self.lines, j, self.m.signers):
            return _FOOTER  # a platform's footer may list its own phone and address
        return _DIVIDER if is_divider(line) else None

    def hits(self) -> list[Hit]:
        found: list[Hit] = []
        in_footer = False
        i = 0
        while i < len(self.lines):
            line, hit, mark = self.lines[i], self.labelled[i], self.mark[i]
            heading = self.heading[i]
            i += 1
            if not line or mark == _DIVIDER:
                continue
            if mark is not None:
                in_footer = mark == _FOOTER
            elif in_footer or (heading and hit is None):
                continue
            elif hit is None:
                detail = unknown_label(line)
                if detail is not None:
                    detail, i = self._answer_below(detail, i)
                    found.append(detail)
            elif hit.key in MULTILINE_KEYS:
                hit, i = self._free_text(hit, i)
                found.append(hit)
            else:
                hit, i = self._single(hit, i)
                found.append(hit)
        return found

    def _plain(self, j: int) -> bool:
        """A line that can be a label's value: no label, heading, footer or mail header."""
        return self.labelled[j] is None and not self.heading[j] and self.mark[j] is None

    def _next_text_line(self, start: int) -> int | None:
        """Return the index of the next non-blank line, skipping at most two blank lines."""
        for j in range(start, min(start + 3, len(self.lines))):
            if self.lines[j]:
                return j
        return None

    def _answer_below(self, detail: Hit, i: int) -> tuple[Hit, int]:
        """A platform question alone on its line has the answer on the next one."""
        if detail.value:
            return detail, i
        j = self._next_text_line(i)
        if j is None or not self._plain(j) or unknown_label(self.lines[j]) is not None:
            return detail, i
        return replace(detail, value=self.lines[j]), j + 1

    def _single(self, hit: Hit, i: int) -> tuple[Hit, int]:
        value = hit.value
        if not value:
            j = self._next_text_line(i)
            # "Opgave" alone may be a section heading: take the next line only if it fits.
            heading = not hit.colon and heading_of(hit.label, self.m.headings)
            if j is not None and self._plain(j) and (not heading or fits(hit.key, self.lines[j])):
                value, i = self.lines[j], j + 1
        if hit.key == "address" and value and not has_postal_code(value):
            j = self._next_text_line(i)
            if j is not None and self._plain(j) and _POSTAL_LINE.match(self.lines[j]):
                value, i = f"{value}, {self.lines[j]}", j + 1
        return replace(hit, value=value), i

    def _free_text(self, hit: Hit, i: int) -> tuple[Hit, int]:
        parts = [hit.value]
        while i < len(self.lines) and not self._ends_free_text(i):
            parts.append(self.lines[i])
            i += 1
        value = re.sub(r"\n{3,}", "\n\n", "\n".join(parts)).strip()
        return replace(hit, value=value), i

    def _ends_free_text(self, j: int) -> bool:
        """True when line `j` is no longer the customer's free text (see the module docstring)."""
        line = self.lines[j]
        if not line:
            return False
        if self.heading[j] or self.mark[j] is not None:
            return True  # heading, footer, divider, mail header or wrapping
        hit = self.labelled[j]
        if hit is None:
            # A platform's added question ("Har I husdyr: Ja"); a customer's "PS: …" is text.
            detail = unknown_label(line)
            return detail is not None and detail.colon and _question(detail.label)
        if hit.key in MULTILINE_KEYS:
            return hit.colon or not hit.value
        value = hit.value
        if not value:
            k = self._next_text_line(j + 1)
            value = self.lines[k] if k is not None and self._plain(k) else ""
        return fits(hit.key, value)
