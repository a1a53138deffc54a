"""The dashboard login: every page needs it; the cookie is signed, HTTP-only and SameSite=Lax."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from leadflow.api.app import create_app
from leadflow.dashboard.web import logouts
from leadflow.dashboard.web import session as web_session
from leadflow.dashboard.web.deps import LOGIN_PATH
from leadflow.db import create_engine
from leadflow.settings import Settings
from tests.dashboard.web import csrf_of, log_in, logged_in_csrf, page_routes
from tests.redis_server import free_port


def test_the_dashboard_has_pages_behind_the_login(app: FastAPI) -> None:
    pages = page_routes(app, "GET")
    assert {"/dashboard", "/dashboard/system"} <= set(pages)
    assert LOGIN_PATH in pages


async def test_every_page_sends_a_visitor_without_a_session_to_the_login(
    app: FastAPI, visitor: httpx.AsyncClient
) -> None:
    for path in page_routes(app, "GET"):
        if path == LOGIN_PATH:
            continue
        answer = await visitor.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == f"{LOGIN_PATH}?next={quote(path, safe='')}", path


async def test_the_api_token_alone_does_not_open_a_page(client: httpx.AsyncClient) -> None:
    answer = await client.get("/dashboard")
    assert answer.status_code == 303


async def test_the_root_leads_to_the_dashboard(visitor: httpx.AsyncClient) -> None:
    answer = await visitor.get("/")
    assert (answer.status_code, answer.headers["location"]) == (307, "/dashboard")


async def test_logging_in_sets_a_hardened_cookie_and_opens_the_pages(
    app: FastAPI, visitor: httpx.AsyncClient
) -> None:
    answer = await log_in(visitor)
    assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard")
    cookie = answer.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in attributes  # plain http on 127.0.0.1 (the demo)
    for path in page_routes(app, "GET"):
        if "/1" in path:
            continue  # item pages: their own tests create the item
        page = await visitor.get(path, follow_redirects=True)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_over_https_the_cookie_is_secure(app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://leadflow.example"
    ) as client:
        answer = await log_in(client)
    assert "secure" in answer.headers["set-cookie"].lower()


@pytest.mark.parametrize(("setting", "secure"), [(True, True), (False, False)])
async def test_the_secure_flag_follows_the_setting(
    settings: Settings, engine: object, setting: bool, secure: bool
) -> None:
    app = create_app(settings.model_copy(update={"dashboard_secure_cookie": setting}))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://leadflow.example"
        ) as client,
    ):
        answer = await client.get(LOGIN_PATH)
    assert ("secure" in answer.headers["set-cookie"].lower()) is secure


async def test_a_wrong_token_is_refused_and_logs_nobody_in(visitor: httpx.AsyncClient) -> None:
    answer = await log_in(visitor, token="not-the-token")
    assert answer.status_code == 401
    assert 'role="alert"' in answer.text
    session = web_session.read_value(visitor.cookies.get(web_session.COOKIE_NAME))
    assert session is None or not session.authenticated
    assert (await visitor.get("/dashboard")).status_code == 303


async def test_the_login_form_needs_its_csrf_token(visitor: httpx.AsyncClient) -> None:
    await visitor.get(LOGIN_PATH)
    for data in (
        {"token": "test-token-not-a-secret"},
        {"token": "test-token-not-a-secret", "csrf_token": "forged"},
    ):
        answer = await visitor.post(LOGIN_PATH, data=data)
        assert answer.status_code == 403
        assert "text/html" in answer.headers["content-type"]
    assert (await visitor.get("/dashboard")).status_code == 303


async def test_logging_in_starts_a_new_session(visitor: httpx.AsyncClient) -> None:
    form = await visitor.get(LOGIN_PATH)
    before = visitor.cookies[web_session.COOKIE_NAME]
    await visitor.post(
        LOGIN_PATH,
        data={"csrf_token": csrf_of(form.text), "token": "test-token-not-a-secret"},
    )
    after = visitor.cookies[web_session.COOKIE_NAME]
    old, new = web_session.read_value(before), web_session.read_value(after)
    assert old is not None
    assert new is not None
    assert new.authenticated
    assert not old.authenticated
    assert new.sid != old.sid


async def test_logging_out_ends_the_session(visitor: httpx.AsyncClient) -> None:
    csrf = await logged_in_csrf(visitor)
    refused = await visitor.post("/dashboard/logout", data={"csrf_token": "wrong"})
    assert refused.status_code == 403
    assert (await visitor.get("/dashboard")).status_code == 200
    answer = await visitor.post("/dashboard/logout", data={"csrf_token": csrf})
    assert (answer.status_code, answer.headers["location"]) == (303, LOGIN_PATH)
    assert web_session.COOKIE_NAME not in visitor.cookies
    assert (await visitor.get("/dashboard")).status_code == 303


@pytest.mark.parametrize(
    ("target", "lands"),
    [
        ("/dashboard/system", "/dashboard/system"),
        ("//evil.example/x", "/dashboard"),
        ("https://evil.example/dashboard", "/dashboard"),
        ("/dashboard\\..\\x", "/dashboard"),
        ("/api/leads", "/dashboard"),
    ],
)
async def test_after_the_login_it_goes_back_only_to_a_dashboard_page(
    visitor: httpx.AsyncClient, target: str, lands: str
) -> None:
    form = await visitor.get(LOGIN_PATH, params={"next": target})
    answer = await visitor.post(
        LOGIN_PATH,
        data={"csrf_token": csrf_of(form.text), "token": "test-token-not-a-secret", "next": target},
    )
    assert answer.headers["location"] == lands


# -- the cookie itself (pure) ---------------------------------------------------------------


def _settings(token: str = "token-one", hours: float = 168.0) -> Settings:  # noqa: S107
    return Settings(_env_file=None, api_token=token, dashboard_session_hours=hours)  # type: ignore[call-arg]


def test_a_session_survives_its_round_trip() -> None:
    settings = _settings()
    session = web_session.new_session(authenticated=True)
    assert web_session.decode(web_session.encode(session, settings), settings) == session


def test_a_new_api_token_ends_every_session() -> None:
    session = web_session.new_session(authenticated=True)
    value = web_session.encode(session, _settings("token-one"))
    assert web_session.decode(value, _settings("token-two")) is None


def test_a_session_expires_after_its_lifetime() -> None:
    settings = _settings(hours=2)
    session = web_session.new_session(authenticated=True)
    value = web_session.encode(session, settings)
    issued = session.issued_at
    assert web_session.decode(value, settings, now=issued + 2 * 3600 - 1) == session
    assert web_session.decode(value, settings, now=issued + 2 * 3600 + 1) is None


def test_a_session_from_the_future_is_refused() -> None:
    settings = _settings()
    session = web_session.Session(sid="x", authenticated=True, issued_at=int(time.time()) + 3600)
    assert web_session.decode(web_session.encode(session, settings), settings) is None


@given(st.text(max_size=200))
def test_any_cookie_value_is_refused_or_valid_never_an_error(value: str) -> None:
    assert web_session.decode(value, _settings()) is None


@given(st.integers(min_value=0, max_value=200), st.binary(min_size=1, max_size=3))
def test_a_tampered_cookie_is_refused(position: int, noise: bytes) -> None:
    settings = _settings()
    value = web_session.encode(web_session.new_session(authenticated=False), settings)
    payload = value.split(".")[0]
    forged_payload = payload.replace("false", "true") if "false" in payload else payload + "A"
    at = position % len(value)
    for forged in (
        forged_payload + "." + value.split(".")[1],
        value[:at] + noise.hex() + value[at + 1 :],
    ):
        if forged != value:
            assert web_session.decode(forged, settings) is None


def test_the_csrf_token_belongs_to_one_session() -> None:
    settings = _settings()
    one, two = (web_session.new_session(authenticated=True) for _ in range(2))
    token = web_session.csrf_token(one, settings)
    assert web_session.csrf_valid(one, token, settings)
    assert not web_session.csrf_valid(two, token, settings)
    assert not web_session.csrf_valid(one, "", settings)
    assert not web_session.csrf_valid(None, token, settings)


async def _copy_of(visitor: httpx.AsyncClient, app: FastAPI) -> httpx.AsyncClient:
    """Another client holding the same session cookie (another device, a copied cookie)."""
    copy = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    )
    copy.cookies.set(web_session.COOKIE_NAME, visitor.cookies[web_session.COOKIE_NAME])
    return copy


async def test_a_copy_of_the_cookie_is_refused_after_the_logout(
    app: FastAPI, visitor: httpx.AsyncClient
) -> None:
    csrf = await logged_in_csrf(visitor)
    async with await _copy_of(visitor, app) as copy:
        assert (await copy.get("/dashboard")).status_code == 200
        await visitor.post("/dashboard/logout", data={"csrf_token": csrf})
        answer = await copy.get("/dashboard")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith(LOGIN_PATH)
        # The login page shows its form to the logged-out cookie (no loop back to a page) ...
        form = await copy.get(LOGIN_PATH)
        assert form.status_code == 200
        # ... and logging in again works, with a new session.
        assert (await log_in(copy)).status_code == 303
        assert (await copy.get("/dashboard")).status_code == 200


async def test_one_logout_leaves_the_other_sessions_alone(
    app: FastAPI, visitor: httpx.AsyncClient
) -> None:
    csrf = await logged_in_csrf(visitor)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as other:
        assert (await log_in(other)).status_code == 303
        await visitor.post("/dashboard/logout", data={"csrf_token": csrf})
        assert (await other.get("/dashboard")).status_code == 200


async def test_a_logout_in_one_worker_holds_in_another(
    app: FastAPI, settings: Settings, visitor: httpx.AsyncClient
) -> None:
    """Two apps on one database, as `serve --workers 2` runs them."""
    csrf = await logged_in_csrf(visitor)
    second = create_app(settings)
    async with LifespanManager(second), await _copy_of(visitor, second) as elsewhere:
        assert (await elsewhere.get("/dashboard")).status_code == 200
        await visitor.post("/dashboard/logout", data={"csrf_token": csrf})
        assert (await elsewhere.get("/dashboard")).status_code == 303


async def test_two_logouts_of_one_session_at_once_both_land_on_the_login(
    app: FastAPI, visitor: httpx.AsyncClient
) -> None:
    csrf = await logged_in_csrf(visitor)
    async with await _copy_of(visitor, app) as copy:
        answers = await asyncio.gather(
            visitor.post("/dashboard/logout", data={"csrf_token": csrf}),
            copy.post("/dashboard/logout", data={"csrf_token": csrf}),
        )
        assert [(a.status_code, a.headers.get("location")) for a in answers] == [
            (303, LOGIN_PATH),
            (303, LOGIN_PATH),
        ]
        assert (await copy.get("/dashboard")).status_code == 303


async def test_a_logout_forgets_the_logouts_that_expired(app: FastAPI, settings: Settings) -> None:
    engine = app.state.engine
    now = datetime.now(UTC)
    old = web_session.Session(
        sid="old", authenticated=True, issued_at=int((now - timedelta(days=30)).timestamp())
    )
    recent = web_session.Session(sid="recent", authenticated=True, issued_at=int(now.timestamp()))
    # Logged out 30 days ago, a week after it was issued (its lifetime), so kept until then.
    await logouts.log_out(engine, old, settings, now=now - timedelta(days=29))
    assert await logouts.is_logged_out(engine, "old")

    await logouts.log_out(engine, recent, settings, now=now)

    assert not await logouts.is_logged_out(engine, "old")
    assert await logouts.is_logged_out(engine, "recent")
    # A session already past its lifetime needs no row: the cookie is refused on its own.
    await logouts.log_out(engine, old, settings, now=now)
    assert not await logouts.is_logged_out(engine, "old")


async def test_without_the_database_a_logout_still_logs_this_browser_out(
    app: FastAPI, settings: Settings, visitor: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    csrf = await logged_in_csrf(visitor)
    working = app.state.engine
    # Nothing listens on this port: every connection is refused at once.
    app.state.engine = create_engine(
        settings.model_copy(
            update={"database_url": f"postgresql://leadflow@127.0.0.1:{free_port()}/gone"}
        )
    )
    try:
        answer = await visitor.post("/dashboard/logout", data={"csrf_token": csrf})
    finally:
        await app.state.engine.dispose()
        app.state.engine = working
    assert (answer.status_code, answer.headers["location"]) == (303, LOGIN_PATH)
    assert web_session.COOKIE_NAME not in visitor.cookies
    assert any("logout not recorded" in r.getMessage() for r in caplog.records)
