"""The dashboard's pages in the frontend check: log in as a browser does, then GET each page.

Pages are server-rendered, so "every endpoint the dashboard calls" is every page route: each is
fetched with the session cookie (redirects followed, as a browser would) and must answer 200
`text/html` within the latency limit, without landing on the login page. The login itself
goes through the real form: GET it for the CSRF token, POST the API token.
"""

from __future__ import annotations

import re
import time

import httpx

from leadflow.dashboard.web.deps import LOGIN_PATH, PREFIX, is_dashboard_path
from leadflow.dashboard.web.session import COOKIE_NAME, CSRF_FIELD

PAGE_CONTENT_TYPE = "text/html"
_CSRF = re.compile(r'name="' + CSRF_FIELD + r'" value="([^"]+)"')

__all__ = ["LOGIN_PATH", "PAGE_CONTENT_TYPE", "api_collection_for", "is_page", "log_in"]


def is_page(path: str) -> bool:
    return is_dashboard_path(path)


def api_collection_for(collection: str) -> str:
    """Where a page's ids come from: the API list of the same name (/dashboard/x → /api/x)."""
    return "/api" + collection.removeprefix(PREFIX)


def bearer_token(http: httpx.AsyncClient) -> str:
    header = http.headers.get("Authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else ""


async def log_in(http: httpx.AsyncClient) -> tuple[str, int | None, float]:
    """Log the client in with its bearer token; return (problem or "", status, millis)."""
    started = time.perf_counter()
    form = await http.get(LOGIN_PATH)
    found = _CSRF.search(form.text) if form.status_code == 200 else None
    if found is None:
        millis = (time.perf_counter() - started) * 1000
        return (
            f"the login page answered {form.status_code} without a form",
            form.status_code,
            millis,
        )
    answer = await http.post(
        LOGIN_PATH,
        data={CSRF_FIELD: found.group(1), "token": bearer_token(http), "next": PREFIX},
    )
    millis = (time.perf_counter() - started) * 1000
    if answer.status_code != 303:
        return f"login refused: status {answer.status_code}", answer.status_code, millis
    if COOKIE_NAME not in http.cookies:
        return (
            "login answered without a session cookie the client may send back (Secure over http?)",
            303,
            millis,
        )
    return "", answer.status_code, millis
