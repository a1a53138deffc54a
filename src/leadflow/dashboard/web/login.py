"""Log in with the API token, log out. Both forms are CSRF-protected (see `session`)."""

from __future__ import annotations

import logging
import math
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import DBAPIError

from leadflow.api.routing import RetryingRoute
from leadflow.api.throttle import secret_matches
from leadflow.dashboard.web import logouts
from leadflow.dashboard.web import session as web_session
from leadflow.dashboard.web.deps import (
    LOGIN_PATH,
    PREFIX,
    CsrfForm,
    current_session,
    logged_in_session,
)
from leadflow.dashboard.web.templating import render
from leadflow.errors import TooManyAttempts
from leadflow.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=RetryingRoute)


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a dashboard path only (no open redirect)."""
    if target and target.startswith(PREFIX) and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX


@router.get(LOGIN_PATH.removeprefix(PREFIX), name="dashboard.login")
async def login_page(
    request: Request, next_url: Annotated[str | None, Query(alias="next", max_length=2000)] = None
) -> Response:
    if await logged_in_session(request) is not None:
        return RedirectResponse(_safe_next(next_url), status_code=303)
    return _login_form(request, next_url=_safe_next(next_url))


def _login_form(
    request: Request, *, next_url: str, error: str | None = None, retry_after: int | None = None
) -> Response:
    session = current_session(request)
    if session is None:
        # The anonymous session that carries the login form's CSRF token.
        session = web_session.new_session(authenticated=False)
        request.state.web_session = session
        request.state.web_session_to_set = session
    settings: Settings = request.app.state.settings
    context = {
        "next_url": next_url,
        "error": error,
        "configured": settings.api_token is not None,
        "retry_minutes": math.ceil(retry_after / 60) if retry_after is not None else None,
    }
    status = 429 if retry_after is not None else 401 if error else 200
    response = render(request, "login.html", context, status_code=status, page="login")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.post(LOGIN_PATH.removeprefix(PREFIX), name="dashboard.login_submit")
async def login_submit(request: Request, form: CsrfForm) -> Response:
    settings: Settings = request.app.state.settings
    token = form.get("token")
    next_url = _safe_next(str(form.get("next") or ""))
    # Wrong tokens count against the address, as on the API (`api.throttle`): a held address
    # is refused before its token is looked at, so a right guess is not told apart.
    given = token.strip() if isinstance(token, str) else ""
    if not given:
        return _login_form(request, next_url=next_url, error="wrong_token")
    try:
        right = secret_matches(
            request.app.state.auth_throttle, request.scope, given, settings.api_token
        )
    except TooManyAttempts as held:
        return _login_form(
            request, next_url=next_url, error="too_many", retry_after=held.retry_after
        )
    if not right:
        return _login_form(request, next_url=next_url, error="wrong_token")
    response = RedirectResponse(next_url, status_code=303)
    # A fresh session id: a session planted before the login is never the logged-in one.
    web_session.set_cookie(response, request, web_session.new_session(authenticated=True))
    return response


@router.post("/logout", name="dashboard.logout")
async def logout(request: Request, form: CsrfForm) -> Response:
    session = current_session(request)
    if session is not None and session.authenticated:
        # Every worker refuses this session from now on, copies of the cookie included. Without
        # the database that cannot be recorded; this browser is logged out all the same.
        try:
            await logouts.log_out(request.app.state.engine, session, request.app.state.settings)
        except (DBAPIError, OSError, TimeoutError) as exc:
            log.warning(
                "logout not recorded (%s): copies of this session's cookie stay valid until it "
                "expires",
                type(exc).__name__,
            )
    response = RedirectResponse(str(request.app.url_path_for("dashboard.login")), status_code=303)
    web_session.clear_cookie(response, request)
    return response
