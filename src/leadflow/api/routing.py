"""Route class that retries a read once when its database connection dropped mid-request."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError

from leadflow.api.deps import abandon_request_session

_SAFE_METHODS = frozenset({"GET", "HEAD"})


def _is_dropped_connection(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class RetryingRoute(APIRoute):
    """Retry a GET once, on a fresh session, when the connection it used was invalidated.

    Connection failures at connect time are not retried: they answer 503 within the connect
    timeout instead of doubling it.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def retrying_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                if request.method not in _SAFE_METHODS or not _is_dropped_connection(exc):
                    raise
                await abandon_request_session(request)
                return await handler(request)

        return retrying_handler


def make_router(*, prefix: str, tags: list[str]) -> APIRouter:
    """An APIRouter whose routes retry dropped-connection reads; use it for every domain router."""
    return APIRouter(prefix=prefix, tags=list(tags), route_class=RetryingRoute)
