"""HTML to readable plain text (pure, stdlib only): blocks become lines, table cells stay apart."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {
    "address",
    "article",
    "aside",
    "blockquote",
    "div",
    "dl",
    "dt",
    "dd",
    "fieldset",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
    "center",
}
_SKIP = {"script", "style", "head", "title", "noscript", "template"}
_CELL = {"td", "th"}


class _TextExtractor(HTMLParser):
    """Collects text: source whitespace folds to one space, blocks and rows break lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0
        self._cell_open = False

    def _newline(self) -> None:
        """Break the line unless it is already broken (whitespace-only text does not count)."""
        for part in reversed(self.parts):
            if part.endswith("\n"):
                return
            if part.strip():
                break
        if self.parts:
            self.parts.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if tag in _SKIP:
            self._skip_depth += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _CELL:
            if self._cell_open:
                self.parts.append(" ")
            self._cell_open = True
        elif tag in _BLOCK:
            self._newline()
            if tag == "tr":
                self._cell_open = False
            if tag == "pre":
                self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() in {"br", "hr"}:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _CELL:
            self.parts.append(" ")
        elif tag in _BLOCK:
            self._newline()
            if tag == "tr":
                self._cell_open = False
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        # Line breaks in HTML source are just spaces; only markup (or <pre>) breaks lines.
        self.parts.append(data if self._pre_depth else _SOURCE_WHITESPACE.sub(" ", data))


_SOURCE_WHITESPACE = re.compile(r"\s+")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """Return the readable text of `html`, one line per block or table row. Never raises."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # malformed markup must still give text
        return _SPACES.sub(" ", re.sub(r"<[^>]*>", " ", html)).strip()
    text = "".join(extractor.parts)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
