"""FastAPI dependencies: the request's database session (which owns the transaction) and auth.

The session dependency is function-scoped: FastAPI closes it as soon as the endpoint has
returned and its answer is serialised, before a byte is sent. So the COMMIT runs while the
client still waits, and a COMMIT that fails (a deferred constraint, a serialization failure, a
dropped connection) becomes the error the client sees, handled like any other (409 for a
conflict, 503 for a lost database, 500 otherwise). A request-scoped dependency would commit
after the answer is sent, and a 201 could name a row that was never stored.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.cache.hybrid import Cache
from leadflow.errors import Unauthorized
from leadflow.settings import Settings

_ABANDONED = "leadflow.abandoned"


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield the request's session; commit before the answer is sent, roll back if it raised."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    session = sessionmaker()
    request.state.db_session = session
    try:
        yield session
        if not session.info.get(_ABANDONED):
            await session.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            await session.rollback()
        raise
    finally:
        with contextlib.suppress(Exception):
            await session.close()


async def abandon_request_session(request: Request) -> None:
    """Mark the request's current session as dead so its dependency neither commits nor raises."""
    session: AsyncSession | None = getattr(request.state, "db_session", None)
    if session is None:
        return
    session.info[_ABANDONED] = True
    with contextlib.suppress(Exception):
        await session.rollback()


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_cache(request: Request) -> Cache:
    """The process's cache (built in the app lifespan); async, so no thread hop per request."""
    cache: Cache = request.app.state.cache
    return cache


_bearer = HTTPBearer(auto_error=False)


MISSING_TOKEN = "missing bearer token: send 'Authorization: Bearer <token>'"  # noqa: S105 - a message
WRONG_TOKEN = "invalid bearer token"  # noqa: S105 - a message


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None when there is none."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return None
    return given


def bearer_problem(authorization: str | None, expected: SecretStr | None) -> str | None:
    """Why an `Authorization` header does not carry the expected token (None: it does):
    `MISSING_TOKEN` or `WRONG_TOKEN`."""
    given = bearer_token(authorization)
    if given is None:
        return MISSING_TOKEN
    if expected is None or not secrets.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    ):
        return WRONG_TOKEN
    return None


async def require_token(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse the request unless it carries the configured bearer token.

    `api.edge.RequestGuard` checks the same before the body is read; this dependency keeps
    every /api route declaring the bearer scheme in OpenAPI, and holds on its own as well.
    """
    problem = bearer_problem(
        request.headers.get("authorization"), request.app.state.settings.api_token
    )
    if problem is not None:
        raise Unauthorized(problem)


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CacheDep = Annotated[Cache, Depends(get_cache)]
