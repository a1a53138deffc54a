"""The request's first checks, before anything reads its body (issue 7, item 10).

- Every /api request must carry the bearer token; without it the answer is 401 at once, so a
  client without the token cannot make the app read, buffer or parse a body (malformed JSON
  without a token is a 401, not a 422). Wrong tokens count against the client's address, and
  an address with too many is answered 429 for a while (`api.throttle`).
- A body may hold at most `LEADFLOW_MAX_REQUEST_BYTES`: a larger declared `Content-Length` is
  refused unread, and a body sent without one (chunked) is counted as it streams in and
  refused as soon as it passes the limit. The app gets the body only once it is known to fit,
  so no request holds more than the limit in memory.
Pure ASGI (no BaseHTTPMiddleware): nothing is buffered but the body that fits.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadflow.api.deps import MISSING_TOKEN, WRONG_TOKEN, bearer_token
from leadflow.api.throttle import secret_matches
from leadflow.errors import TooManyAttempts, app_error_response, error_response
from leadflow.settings import Settings


class _ClientGone(Exception):
    """The client disconnected before its body was complete."""


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _needs_token(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


class RequestGuard:
    """Token first, then the body within its limit; settings are the app's (`app.state`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        settings: Settings = state.settings
        if _needs_token(scope["path"]):
            given = bearer_token(_header(scope, b"authorization"))
            problem: str | None = MISSING_TOKEN
            if given is not None:
                # A token, right or wrong: refused unanswered while the address is held.
                try:
                    right = secret_matches(state.auth_throttle, scope, given, settings.api_token)
                except TooManyAttempts as held:
                    await app_error_response(held)(scope, receive, send)
                    return
                problem = None if right else WRONG_TOKEN
            if problem is not None:
                response = error_response(
                    401, "unauthorized", problem, headers={"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return
        declared = _header(scope, b"content-length")
        limit = settings.max_request_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit, scope, receive, send)
            return
        try:
            body = await _read_body(receive, limit)
        except _ClientGone:
            return
        if body is None:
            await _too_large(limit, scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: nothing to answer
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(
        413,
        "payload_too_large",
        f"the request body is larger than {limit} bytes (LEADFLOW_MAX_REQUEST_BYTES)",
        {"max_bytes": limit},
    )
    await response(scope, receive, send)
