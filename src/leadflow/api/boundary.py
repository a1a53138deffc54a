"""The app's last catch: an exception no handler answered becomes one log line and one answer.

Starlette answers an unhandled exception in its outermost middleware and then raises it again
to the server, which logs a second traceback, outside the request's context (no request id).
This middleware sits inside the request-id middleware and catches it first, answering with the
app's handler for `Exception` (`leadflow.errors`; an HTML page on dashboard paths): the line
(with the traceback, once) carries the request id, the client gets the error shape with
`X-Request-ID`, and nothing is raised further, so Starlette's outer handler never sees it.
"""

from __future__ import annotations

import inspect

from starlette.requests import Request
from starlette.responses import Response
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
            response = await _answer(scope, receive, exc)  # logs the one line
            if not started:
                await response(scope, receive, send)
            # Once the answer has started, the server ends the cut-off response itself.


async def _answer(scope: Scope, receive: Receive, exc: Exception) -> Response:
    """The app's own handler for `Exception` (which the dashboard wraps to render its error
    page), else the JSON error shape."""
    handler = getattr(scope.get("app"), "exception_handlers", {}).get(Exception)
    if handler is None:
        return unexpected_error_response(exc)
    result = handler(Request(scope, receive), exc)
    response: Response = await result if inspect.isawaitable(result) else result
    return response
