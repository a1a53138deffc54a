"""Gmail failures and the one classifier that decides which of them are worth retrying."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# A server may ask for any wait; beyond this we would rather fail the run and try on the next one.
MAX_RETRY_AFTER_SECONDS = 900.0
_RETRY_AFTER_TEXT = re.compile(r"Retry after (\S+)", re.IGNORECASE)
_MAX_MESSAGE_CHARS = 300


class GmailError(Exception):
    """A failed Gmail call; `permanent` tells the caller whether retrying could help."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        permanent: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.permanent = permanent
        # Seconds the server asked us to wait (Retry-After header or "Retry after <time>" text).
        self.retry_after = retry_after


class GmailRateLimited(GmailError):
    """Gmail throttled the call (429, or 403 rateLimitExceeded/userRateLimitExceeded); transient."""


class GmailAuthError(GmailError):
    """The credentials were refused even after a token refresh."""


class GmailPermissionError(GmailError):
    """The credentials lack the gmail.readonly scope or domain-wide delegation."""


class GmailNotFound(GmailError):
    """404: a deleted message, or a startHistoryId too old for history.list."""


class GmailBadRequest(GmailError):
    """400: Gmail refused the request itself; retrying the same request cannot help."""


def classify(
    status: int | None,
    body: dict[str, Any] | None,
    exc: BaseException | None,
    *,
    headers: Mapping[str, str] | None = None,
    now: Callable[[], datetime] | None = None,
) -> GmailError:
    """Turn a failed response (status + JSON body) or a transport exception into a GmailError."""
    if exc is not None:
        return _classify_exception(exc)
    reason, gmail_message = _parse_error_body(body)
    detail = f"HTTP {status}" + (f" {reason}" if reason else "") + f": {gmail_message}"
    retry_after = _retry_after(headers, gmail_message, now or _utcnow)
    if status == 429 or (status == 403 and reason in RATE_LIMIT_REASONS):
        return GmailRateLimited(
            f"Gmail rate limit ({detail})",
            status=status,
            reason=reason,
            permanent=False,
            retry_after=retry_after,
        )
    if status in TRANSIENT_STATUSES:
        return GmailError(
            f"Gmail unavailable ({detail})",
            status=status,
            reason=reason,
            permanent=False,
            retry_after=retry_after,
        )
    if status == 401:
        return GmailAuthError(
            f"Gmail refused the credentials ({detail}); re-authorise with "
            "`leadflow gmail authorize` (or check the service account file)",
            status=status,
            reason=reason,
        )
    if status == 403:
        return GmailPermissionError(
            _permission_message(reason, detail), status=status, reason=reason
        )
    if status == 404:
        return GmailNotFound(f"Gmail: not found ({detail})", status=status, reason=reason)
    if status == 400:
        return GmailBadRequest(f"Gmail: bad request ({detail})", status=status, reason=reason)
    return GmailError(f"Gmail call failed ({detail})", status=status, reason=reason)


def _classify_exception(exc: BaseException) -> GmailError:
    if isinstance(exc, GmailError):
        return exc
    if isinstance(exc, httpx.TimeoutException):
        return GmailError(
            f"Gmail request timed out ({type(exc).__name__})", reason="timeout", permanent=False
        )
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        return GmailError(
            f"Gmail connection failed ({type(exc).__name__})",
            reason="connectionError",
            permanent=False,
        )
    # Anything else (bad URL, unsupported protocol, a bug) will fail the same way next time.
    return GmailError(f"Gmail call failed ({type(exc).__name__})", reason=type(exc).__name__)


def _permission_message(reason: str | None, detail: str) -> str:
    if reason == "dailyLimitExceeded":
        return f"Gmail daily quota exhausted ({detail}); sync resumes when the quota resets"
    return (
        f"Gmail denied access ({detail}); the credentials need the scope "
        "https://www.googleapis.com/auth/gmail.readonly and, for a service account, "
        "domain-wide delegation for the mailbox user"
    )


def _parse_error_body(body: dict[str, Any] | None) -> tuple[str | None, str]:
    """Return (first reason, message) from Google's `{"error": {...}}` body, tolerating junk."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, "no error details"
    reason: str | None = None
    errors = error.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0].get("reason")
        reason = first if isinstance(first, str) else None
    message = error.get("message")
    text = message if isinstance(message, str) and message else "no message"
    return reason, text[:_MAX_MESSAGE_CHARS]


def _retry_after(
    headers: Mapping[str, str] | None, message: str, now: Callable[[], datetime]
) -> float | None:
    """Seconds to wait that the server asked for, from the header or Gmail's message text."""
    waits: list[float] = []
    header = headers.get("retry-after") if headers is not None else None
    if header:
        header_wait = parse_retry_after_header(header, now())
        if header_wait is not None:
            waits.append(header_wait)
    match = _RETRY_AFTER_TEXT.search(message)
    if match:
        when = _parse_iso(match.group(1))
        if when is not None:
            waits.append((when - now()).total_seconds())
    if not waits:
        return None
    return min(max(max(waits), 0.0), MAX_RETRY_AFTER_SECONDS)


def parse_retry_after_header(value: str, now: datetime) -> float | None:
    """Parse a Retry-After value: delay seconds or an HTTP date; None when unreadable."""
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def _parse_iso(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.rstrip(".,;"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)
