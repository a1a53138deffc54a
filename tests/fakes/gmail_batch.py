"""The Gmail fake's HTTP batch wire format.

Written apart from leadflow's own batch code, so a test against the fake checks the client
against an independent reading of the format: a multipart/mixed body of `application/http`
parts, each a whole HTTP request; the answer has one part per request, Content-ID
`<response-X>` for the request's `<X>`, each a whole HTTP response.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

from starlette.responses import Response

from tests.fakes.gmail_wire import BadRequest

BATCH_PATH = "/batch/gmail/v1"
MAX_BATCH_PARTS = 100


@dataclass(frozen=True)
class BatchCall:
    """One inner request: method, target (path?query), lower-cased headers, Content-ID."""

    content_id: str
    method: str
    target: str
    headers: dict[str, str]


def parse_batch_request(content_type: str, body: bytes) -> list[BatchCall]:
    """The inner requests of a batch body; BadRequest when it is not a multipart/mixed batch.

    Read by hand rather than with the `email` package, which costs the fake more per call than
    the whole client does; tests/test_gmail_batch.py checks the client's body with `email`.
    """
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/mixed":
        raise BadRequest("a batch request must be multipart/mixed")
    boundary = ""
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        raise BadRequest("multipart batch without a boundary")
    text = body.decode("utf-8", "replace").replace("\r\n", "\n")
    pieces = ("\n" + text).split(f"\n--{boundary}")
    if len(pieces) < 2 or not any(p.startswith("--") for p in pieces[1:]):
        raise BadRequest("malformed multipart batch body")
    calls: list[BatchCall] = []
    for piece in pieces[1:]:
        if piece.startswith("--"):
            break
        _, _, part = piece.partition("\n")  # past the rest of the delimiter line
        part_head, _, http = part.partition("\n\n")
        part_headers = _header_lines(part_head.split("\n"))
        if part_headers.get("content-type", "").split(";")[0].strip() != "application/http":
            raise BadRequest(f"batch part {len(calls) + 1} is not application/http")
        content_id = part_headers.get("content-id", "").strip("<> ")
        calls.append(_parse_http_request(content_id, http))
    return calls


def _header_lines(lines: Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def _parse_http_request(content_id: str, text: str) -> BatchCall:
    head, _, _ = text.lstrip("\n").partition("\n\n")
    lines = head.split("\n")
    words = lines[0].split()
    if len(words) not in (2, 3) or not words[1].startswith("/"):
        raise BadRequest(f"bad request line in batch part <{content_id}>")
    return BatchCall(content_id, words[0].upper(), words[1], _header_lines(lines[1:]))


def render_batch_response(answers: Sequence[tuple[str, Response]], boundary: str) -> bytes:
    """Google's batch answer: one application/http part per (request Content-ID, response)."""
    chunks: list[bytes] = []
    for content_id, response in answers:
        status = response.status_code
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        header_lines = [
            f"{name.decode('latin-1').title()}: {value.decode('latin-1')}"
            for name, value in response.raw_headers
        ]
        http = "\r\n".join([f"HTTP/1.1 {status} {phrase}", *header_lines]).encode()
        chunks.append(
            f"--{boundary}\r\n"
            "Content-Type: application/http\r\n"
            f"Content-ID: <response-{content_id}>\r\n\r\n".encode()
            + http
            + b"\r\n\r\n"
            + bytes(response.body)
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks)
