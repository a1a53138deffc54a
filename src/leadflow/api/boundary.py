"""The app's last catch: an exception no handler answered becomes one log line and one answer.

Starlette answers an unhandled exception in its outermost middleware and then raises it again
to the server, which logs a second traceback, outside the request's context (no request id).
This middleware sits inside the request-id middleware and catches it first: the line (with the
traceback, once) carries the request id, the client gets the error shape with `X-Request-ID`,
and nothing is raised further.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadflow.errors import unexpected_error_response


class ErrorBoundary:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            response = unexpected_error_response(exc)  # logs the one line
            if not started:
                await response(scope, receive, send)
            # Once the answer has started, the server ends the cut-off response itself.
