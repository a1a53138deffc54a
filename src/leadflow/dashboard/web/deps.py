"""What every dashboard route depends on: the login, the CSRF check of a form, the page router."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import FormData

from leadflow.api.routing import RetryingRoute
from leadflow.dashboard.web import logouts
from leadflow.dashboard.web import session as web_session
from leadflow.errors import AppError, Forbidden
from leadflow.settings import Settings

PREFIX = "/dashboard"
LOGIN_PATH = PREFIX + "/login"


def is_dashboard_path(path: str) -> bool:
    """True for the dashboard's pages (and `/`, which leads to them)."""
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


class LoginRequired(AppError):
    """Answered with a redirect to the login page (see `errors.install_html_errors`)."""

    status_code = 401
    code = "login_required"


def current_session(request: Request) -> web_session.Session | None:
    """The request's valid session (cached on the request), or None."""
    if not hasattr(request.state, "web_session"):
        request.state.web_session = web_session.read(request)
    found: web_session.Session | None = request.state.web_session
    return found


async def logged_in_session(request: Request) -> web_session.Session | None:
    """The request's session when it is logged in and was not logged out (`logouts`); a
    logged-out session counts as none for the rest of the request (cached on the request)."""
    session = current_session(request)
    if session is None or not session.authenticated:
        return None
    if not getattr(request.state, "web_session_checked", False):
        request.state.web_session_checked = True
        if await logouts.is_logged_out(request.app.state.engine, session.sid):
            request.state.web_session = None
            return None
    return session


async def require_login(request: Request) -> web_session.Session:
    session = await logged_in_session(request)
    if session is None:
        raise LoginRequired("log in to see the dashboard")
    return session


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token matches the session's; else 403, nothing done."""
    settings: Settings = request.app.state.settings
    form = await request.form()
    submitted = form.get(web_session.CSRF_FIELD)
    if not web_session.csrf_valid(
        current_session(request), submitted if isinstance(submitted, str) else None, settings
    ):
        raise Forbidden("the form has expired or did not come from this site; reload and retry")
    return form


LoginDep = Annotated[web_session.Session, Depends(require_login)]
CsrfForm = Annotated[FormData, Depends(checked_form)]


def page_paths(app: FastAPI, method: str = "GET") -> list[str]:
    """The dashboard's routes for `method`, as path templates, from the app's route table."""
    paths = set()
    for context in iter_route_contexts(app.routes):
        path = context.path
        if (
            isinstance(context.original_route, APIRoute)
            and isinstance(path, str)
            and method in (context.methods or ())
            and is_dashboard_path(path)
            and path != "/"
        ):
            paths.add(path)
    return sorted(paths)


def page_router() -> APIRouter:
    """A router for dashboard pages: under /dashboard, login required, outside the API schema."""
    return APIRouter(
        prefix=PREFIX,
        include_in_schema=False,
        route_class=RetryingRoute,
        dependencies=[Depends(require_login)],
    )
