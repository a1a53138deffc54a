"""Serve an ASGI app over real TCP from a thread (lifespan on), for tests of client commands."""

from __future__ import annotations

from contextlib import AbstractContextManager

from starlette.types import ASGIApp

from tests.threaded_server import serve_in_thread


def serve_app(app: ASGIApp, *, host: str = "127.0.0.1") -> AbstractContextManager[str]:
    """The context yields the served app's base URL."""
    return serve_in_thread(app, name="served-app", lifespan="on", host=host, timeout=20)
