"""Gmail API v1 wire format for the fake: Message resources, error bodies, test emails.

Shapes follow googleapiclient's discovery document gmail.v1.json (schemas Message, MessagePart,
History, ListMessagesResponse, ...) and Google's JSON error format.
"""

from __future__ import annotations

import base64
import email
import email.policy
import html
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid
from typing import Any

from starlette.requests import Request

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
DEFAULT_REASONS = {
    400: "invalidArgument",
    401: "authError",
    403: "insufficientPermissions",
    404: "notFound",
    429: "rateLimitExceeded",
    500: "backendError",
    502: "backendError",
    503: "backendError",
    504: "backendError",
}
DEFAULT_MESSAGES = {
    400: "Invalid argument",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential.",
    403: "Request had insufficient authentication scopes.",
    404: "Requested entity was not found.",
    429: "User-rate limit exceeded.",
    500: "Internal error encountered.",
    502: "Bad Gateway",
    503: "The service is currently unavailable.",
    504: "Deadline exceeded",
}

HISTORY_KEYS = {
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}
MAX_PAGE = 500
DEFAULT_PAGE = 100


@dataclass
class Fault:
    """An error to answer instead of the real response, `times` times."""

    status: int
    # "messages.get", ...; None = any API method (inside a batch too); "batch" = the batch
    # request itself, answered before any of its calls is looked at; "token" = the OAuth
    # token endpoint.
    method: str | None = None
    reason: str | None = None
    message: str | None = None
    retry_after: str | None = None  # Retry-After header value
    times: int = 1
    message_id: str | None = None  # only for this message (messages.get)


@dataclass
class HistoryRecord:
    id: int
    kind: str  # key of HISTORY_KEYS
    message: dict[str, Any]  # {id, threadId, labelIds} as of the change
    label_ids: list[str] = field(default_factory=list)

    def render(self) -> dict[str, Any]:
        change: dict[str, Any] = {"message": self.message}
        if self.kind in {"labelAdded", "labelRemoved"}:
            change["labelIds"] = self.label_ids
        stub = {"id": self.message["id"], "threadId": self.message["threadId"]}
        return {"id": str(self.id), "messages": [stub], HISTORY_KEYS[self.kind]: [change]}


class BadRequest(Exception):
    pass


@dataclass
class FakeMessage:
    """One stored message; `history_id` is the last history record that touched it."""

    id: str
    thread_id: str
    raw: bytes
    internal_date: int  # ms since epoch
    history_id: int
    label_ids: list[str] = field(default_factory=list)

    _snippet: str | None = field(default=None, repr=False, compare=False)

    def snippet(self) -> str:
        """The message's snippet, computed once: like Gmail, the fake does not re-read the mail
        on every get, so a benchmark measures leadflow rather than the fake's MIME parsing."""
        if self._snippet is None:
            parsed = email.message_from_bytes(self.raw, policy=email.policy.compat32)
            self._snippet = snippet(parsed)
        return self._snippet

    def ref(self, *, labels: bool = True) -> dict[str, Any]:
        """The {id, threadId[, labelIds]} stub used in lists and history records."""
        stub: dict[str, Any] = {"id": self.id, "threadId": self.thread_id}
        if labels:
            stub["labelIds"] = list(self.label_ids)
        return stub


def error_body(
    code: int, message: str | None = None, reason: str | None = None, domain: str = "global"
) -> dict[str, Any]:
    """Google's JSON error: {"error": {"code", "message", "errors": [...], "status"}}."""
    text = message or DEFAULT_MESSAGES.get(code, "Error")
    why = reason or DEFAULT_REASONS.get(code, "unknown")
    if why in {"rateLimitExceeded", "userRateLimitExceeded"}:
        domain = "usageLimits"
    return {
        "error": {
            "code": code,
            "message": text,
            "errors": [{"message": text, "domain": domain, "reason": why}],
            "status": STATUS_NAMES.get(code, "UNKNOWN"),
        }
    }


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def render_message(
    message: FakeMessage, fmt: str, metadata_headers: Sequence[str] = ()
) -> dict[str, Any]:
    """users.messages.get in format raw | full | metadata | minimal."""
    resource: dict[str, Any] = {
        "id": message.id,
        "threadId": message.thread_id,
        "labelIds": list(message.label_ids),
        "snippet": message.snippet(),
        "sizeEstimate": len(message.raw),
        "historyId": str(message.history_id),
        "internalDate": str(message.internal_date),
    }
    if fmt == "raw":
        resource["raw"] = b64url(message.raw)
        return resource
    parsed = email.message_from_bytes(message.raw, policy=email.policy.compat32)
    if fmt == "full":
        resource["payload"] = _part(parsed, "", message.id)
    elif fmt == "metadata":
        wanted = {name.lower() for name in metadata_headers}
        headers = [h for h in _headers(parsed) if not wanted or h["name"].lower() in wanted]
        resource["payload"] = {
            "partId": "",
            "mimeType": parsed.get_content_type(),
            "filename": "",
            "headers": headers,
            "body": {"size": 0},
        }
    return resource


def snippet(parsed: Message) -> str:
    """Roughly Gmail's snippet: the start of the text body, whitespace collapsed, HTML-escaped."""
    for part in parsed.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                text = payload.decode(part.get_content_charset() or "utf-8", "replace")
                return html.escape(re.sub(r"\s+", " ", text).strip()[:200])
    return ""


def _headers(part: Message) -> list[dict[str, str]]:
    return [{"name": name, "value": str(value)} for name, value in part.items()]


def _part(part: Message, part_id: str, message_id: str) -> dict[str, Any]:
    """A MessagePart: leaves carry base64url body.data, attachments an attachmentId instead."""
    result: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": part.get_filename() or "",
        "headers": _headers(part),
    }
    if part.is_multipart():
        children = part.get_payload()
        assert isinstance(children, list)
        result["body"] = {"size": 0}
        result["parts"] = [
            _part(child, f"{part_id}.{i}" if part_id else str(i), message_id)
            for i, child in enumerate(children)
        ]
        return result
    data = part.get_payload(decode=True)
    body = data if isinstance(data, bytes) else b""
    if result["filename"]:
        result["body"] = {"size": len(body), "attachmentId": f"att-{message_id}-{part_id or '0'}"}
    else:
        result["body"] = {"size": len(body), "data": b64url(body)} if body else {"size": 0}
    return result


def synthetic_raw_email(n: int) -> bytes:
    """A small plain-text lead email, built by formatting (EmailMessage is too slow for 100k)."""
    return (
        f"From: Kunde {n} <kunde{n}@example.net>\r\n"
        "To: info@rendetalje.dk\r\n"
        f"Subject: =?utf-8?q?Foresp=C3=B8rgsel_{n}?=\r\n"
        f"Date: Mon, 02 Mar 2026 09:{n // 60 % 60:02d}:{n % 60:02d} +0100\r\n"
        f"Message-ID: <lead-{n}@example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"Hej, jeg vil gerne have et tilbud på rengøring (nr. {n}).\r\n"
    ).encode()


def large_raw_email(n: int, size: int) -> bytes:
    """A mail of about `size` raw bytes: a short text and one attachment of random bytes."""
    data = random.Random(n).randbytes(max(size * 3 // 4 - 2_000, 0))  # base64 grows it by 4/3
    return make_raw_email(
        subject=f"Billeder fra opgaven {n}",
        sender=f"Kunde {n} <kunde{n}@example.net>",
        body="Her er billederne fra rengøringen.",
        attachments=[(f"billeder-{n}.zip", "application/zip", data)],
    )


def make_raw_email(
    *,
    subject: str = "Tilbud på rengøring",
    sender: str = "Kunde Eksempel <kunde@example.net>",
    to: str = "info@rendetalje.dk",
    body: str = "Hej, jeg vil gerne have et tilbud.",
    date: datetime | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    html_body: str | None = None,
    attachments: Iterable[tuple[str, str, bytes]] = (),
) -> bytes:
    """RFC 822 bytes of a simple test email; attachments are (filename, mime type, bytes)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if date is not None:
        msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id or make_msgid(domain="example.net")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    if html_body is not None:
        msg.add_alternative(html_body, subtype="html")
    for filename, mime_type, data in attachments:
        maintype, subtype = mime_type.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=email.policy.SMTP)


def page_size(request: Request) -> int:
    value = request.query_params.get("maxResults")
    if value is None:
        return DEFAULT_PAGE
    size = int_param(value, "maxResults")
    if size < 1:
        raise BadRequest("Invalid maxResults")
    return min(size, MAX_PAGE)  # Gmail caps silently


def int_param(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"Invalid value for {name}") from None


def bool_param(value: str, name: str) -> bool:
    if value.lower() not in {"true", "false"}:
        raise BadRequest(f"Invalid value for {name}")
    return value.lower() == "true"
