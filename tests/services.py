"""Probes for the services tests need: in CI a missing service fails the run, locally it skips."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_postgres_url(database: str | None = None) -> str:
    raw = os.environ.get("LEADFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    if database is None:
        return raw
    return make_url(raw).set(database=database).render_as_string(hide_password=False)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def postgres_available() -> bool:
    url = make_url(admin_postgres_url())
    return _port_open(url.host or "127.0.0.1", url.port or 5432)


def redis_available(url: str) -> bool:
    parts = urlsplit(url)
    return _port_open(parts.hostname or "127.0.0.1", parts.port or 6379)


def require_service(name: str, available: bool) -> None:
    """Fail in CI (CI=true) when a needed service is down; skip with a reason elsewhere."""
    if available:
        return
    message = f"{name} is not reachable"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message} (CI requires it)", pytrace=False)
    pytest.skip(f"{message}; start it to run this test")
