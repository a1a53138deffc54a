"""The dashboard's session cookie and its CSRF token.

The cookie holds `<payload>.<signature>`: the payload (base64url JSON) names a random session id,
whether the session is logged in, and when it was issued; the signature is an HMAC-SHA256 under a
key derived from `LEADFLOW_API_TOKEN`. Nothing secret is in the cookie, and changing the API token
invalidates every session. A logout is the one piece of server state: the session id is refused
from then on (`logouts`). The cookie is HTTP-only and SameSite=Lax; `Secure` follows
`LEADFLOW_DASHBOARD_SECURE_COOKIE` (unset: only when the request came over https, so the demo on
http://127.0.0.1 works and a deployment behind an https proxy gets it).

CSRF uses the synchronizer pattern without server state: a form's token is an HMAC of the
session id, so it is valid for that session only. The login form gets an anonymous session
first (so logging in is CSRF-protected as well); logging in issues a new session id, which
keeps a session fixed by someone else from being logged in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from fastapi import Request, Response

from leadflow.settings import Settings

COOKIE_NAME = "leadflow_session"
COOKIE_PATH = "/"
CSRF_FIELD = "csrf_token"
_KEY_LABEL = b"leadflow dashboard session v1"
# An anonymous session only carries the login form's CSRF token; it need not outlive a visit.
_ANONYMOUS_SECONDS = 2 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    authenticated: bool
    issued_at: int


def _key(settings: Settings) -> bytes | None:
    if settings.api_token is None:
        return None
    token = settings.api_token.get_secret_value().encode()
    return hmac.new(token, _KEY_LABEL, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(session: Session, settings: Settings) -> str:
    key = _key(settings)
    if key is None:
        raise RuntimeError("no API token is configured; the dashboard cannot sign sessions")
    payload = _b64(
        json.dumps(
            {"sid": session.sid, "auth": session.authenticated, "iat": session.issued_at},
            separators=(",", ":"),
        ).encode()
    )
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def decode(value: str, settings: Settings, *, now: float | None = None) -> Session | None:
    """The session in a cookie value, or None when it is forged, malformed or expired."""
    key = _key(settings)
    payload, _, signature = value.partition(".")
    if key is None or not payload or not signature:
        return None
    expected = _b64(hmac.new(key, payload.encode("utf-8", "replace"), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return None
    try:
        data = json.loads(_unb64(payload))
        session = Session(
            sid=str(data["sid"]), authenticated=data["auth"] is True, issued_at=int(data["iat"])
        )
    except (ValueError, KeyError, TypeError):
        return None
    lifetime = (
        settings.dashboard_session_hours * 3600 if session.authenticated else _ANONYMOUS_SECONDS
    )
    moment = time.time() if now is None else now
    if not session.issued_at <= moment + 60 or moment - session.issued_at > lifetime:
        return None
    return session


def new_session(*, authenticated: bool) -> Session:
    return Session(
        sid=secrets.token_urlsafe(18), authenticated=authenticated, issued_at=int(time.time())
    )


def read(request: Request) -> Session | None:
    value = request.cookies.get(COOKIE_NAME)
    if not value:
        return None
    settings: Settings = request.app.state.settings
    return decode(value, settings)


def read_value(value: str | None) -> Session | None:
    """The payload of a cookie value, unverified: for tests and logs, never for access."""
    if not value:
        return None
    try:
        data = json.loads(_unb64(value.partition(".")[0]))
        return Session(
            sid=str(data["sid"]), authenticated=data["auth"] is True, issued_at=int(data["iat"])
        )
    except (ValueError, KeyError, TypeError):
        return None


def csrf_token(session: Session, settings: Settings) -> str:
    key = _key(settings)
    if key is None:
        return ""
    return _b64(hmac.new(key, b"csrf:" + session.sid.encode(), hashlib.sha256).digest())


def csrf_valid(session: Session | None, submitted: str | None, settings: Settings) -> bool:
    if session is None or not submitted:
        return False
    expected = csrf_token(session, settings)
    return bool(expected) and hmac.compare_digest(
        expected.encode(), submitted.encode("utf-8", "replace")
    )


def secure_cookie(request: Request, settings: Settings) -> bool:
    if settings.dashboard_secure_cookie is not None:
        return settings.dashboard_secure_cookie
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, session: Session) -> None:
    settings: Settings = request.app.state.settings
    max_age = (
        int(settings.dashboard_session_hours * 3600)
        if session.authenticated
        else _ANONYMOUS_SECONDS
    )
    response.set_cookie(
        COOKIE_NAME,
        encode(session, settings),
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=secure_cookie(request, settings),
    )


def clear_cookie(response: Response, request: Request) -> None:
    settings: Settings = request.app.state.settings
    response.delete_cookie(
        COOKIE_NAME,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=secure_cookie(request, settings),
    )
