"""Gmail HTTP batch wire format: build a multipart/mixed request, parse the multipart answer.

Pure functions, no I/O. A batch request is `POST {base}/batch/gmail/v1` whose body holds one
`application/http` part per inner call (`Content-ID: <item-N>`); Google answers with one
`application/http` part per call, each an HTTP response, named `<response-item-N>`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BATCH_PATH = "/batch/gmail/v1"
MAX_BATCH_SIZE = 100  # Gmail refuses more parts; more than 50 is not recommended
_CRLF = b"\r\n"
_BOUNDARY_PARAM = re.compile(r"""boundary=(?:"([^"]+)"|([^;\s]+))""", re.IGNORECASE)
_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)?\s+(\d{3})")


@dataclass(frozen=True, slots=True)
class InnerRequest:
    """One call inside a batch: a GET of `path_and_query` (absolute path) with headers."""

    content_id: str
    path_and_query: str
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class InnerResponse:
    """One answer inside a batch: status, lower-cased headers and the JSON body (None if not)."""

    status: int
    headers: dict[str, str]
    body: dict[str, Any] | None


class BatchFormatError(ValueError):
    """The batch answer is not the multipart/mixed body it should be."""


def new_boundary() -> str:
    """A boundary that cannot occur in base64url or JSON text by accident."""
    return f"batch_{secrets.token_hex(16)}"


def build_batch_body(requests: Sequence[InnerRequest], boundary: str) -> bytes:
    """The multipart/mixed body for `requests` (CRLF line ends, as RFC 2046 asks)."""
    delimiter = f"--{boundary}".encode()
    chunks: list[bytes] = []
    for request in requests:
        lines = [f"GET {request.path_and_query} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in request.headers.items()]
        inner = "\r\n".join(lines).encode() + _CRLF
        head = (
            "Content-Type: application/http\r\n"
            "Content-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{request.content_id}>\r\n\r\n"
        ).encode()
        chunks.append(delimiter + _CRLF + head + inner + _CRLF)
    chunks.append(delimiter + b"--" + _CRLF)
    return b"".join(chunks)


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a multipart Content-Type header."""
    if not content_type.lower().startswith("multipart/"):
        raise BatchFormatError(f"expected a multipart answer, got {content_type!r}")
    match = _BOUNDARY_PARAM.search(content_type)
    if match is None:
        raise BatchFormatError("multipart answer without a boundary")
    return match.group(1) or match.group(2)


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts of a multipart body (headers and content), without the delimiters."""
    delimiter = b"--" + boundary.encode()
    pieces = body.split(delimiter)
    if len(pieces) < 2:
        raise BatchFormatError("multipart answer without any part")
    parts: list[bytes] = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            return parts
        # The rest of the delimiter line (transport padding) and the line break that belongs
        # to the next delimiter are not part of the content.
        _, _, content = piece.partition(b"\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        parts.append(content)
    raise BatchFormatError("multipart answer without its closing delimiter")


def _split_head(data: bytes) -> tuple[list[bytes], bytes]:
    """Header lines and the rest, split at the first empty line (CRLF or bare LF)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, rest = data.partition(separator)
        if found:
            return head.splitlines(), rest
    return data.splitlines(), b""


def _headers(lines: Sequence[bytes]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.decode("latin-1").partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def parse_inner_response(part: bytes) -> tuple[str | None, InnerResponse]:
    """(Content-ID, response) of one part: MIME headers, then a whole HTTP response."""
    part_lines, http = _split_head(part)
    content_id = _headers(part_lines).get("content-id")
    response_lines, payload = _split_head(http.lstrip(b"\r\n"))
    if not response_lines:
        raise BatchFormatError("batch part without an HTTP status line")
    status = _STATUS_LINE.match(response_lines[0])
    if status is None:
        raise BatchFormatError(f"batch part with a bad status line {response_lines[0][:80]!r}")
    try:
        body = json.loads(payload) if payload.strip() else None
    except ValueError:
        body = None
    return (
        content_id.strip("<> ") if content_id else None,
        InnerResponse(int(status.group(1)), _headers(response_lines[1:]), _dict_or_none(body)),
    )


def parse_batch_response(content_type: str, body: bytes) -> dict[str, InnerResponse]:
    """Responses by request Content-ID (`response-item-3` answers `item-3`)."""
    responses: dict[str, InnerResponse] = {}
    for part in split_multipart(body, boundary_of(content_type)):
        content_id, response = parse_inner_response(part)
        if content_id is not None:
            responses[content_id.removeprefix("response-")] = response
    return responses


def _dict_or_none(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None
