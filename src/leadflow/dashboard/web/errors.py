"""Errors on dashboard paths answer an HTML page; everywhere else the API's JSON body stays.

The app's error handlers (`leadflow.errors`) decide the status and message; for a request under
/dashboard this module renders them into `error.html` instead, so a page never shows JSON or a
traceback. A missing login answers a redirect to the login page, back to the page afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from leadflow.dashboard.web.deps import LoginRequired, is_dashboard_path
from leadflow.dashboard.web.templating import render
from leadflow.errors import error_message

log = logging.getLogger(__name__)

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login = str(request.app.url_path_for("dashboard.login"))
    if request.method == "GET" and target != login:
        login += "?" + urlencode({"next": target})
    return RedirectResponse(login, status_code=303)


def _wrap(original: Handler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        result = original(request, exc)
        response = result if isinstance(result, Response) else await result
        if not is_dashboard_path(request.url.path):
            return response
        if isinstance(exc, LoginRequired):
            return login_redirect(request)
        try:
            return render(
                request,
                "error.html",
                {
                    "status": response.status_code,
                    "message": error_message(bytes(response.body)) or "",
                },
                status_code=response.status_code,
            )
        except Exception:  # the error page itself failed: the plain answer is still an answer
            log.exception("the dashboard's error page failed")
            return response

    return handler


def install_html_errors(app: FastAPI) -> None:
    """Wrap every registered exception handler (call after `install_error_handlers`)."""
    for key, original in list(app.exception_handlers.items()):
        app.exception_handlers[key] = _wrap(original)
