"""Two real `serve` processes sharing one Redis: a write through one, the other stops serving
the old value (its near cache hears the invalidation through Redis)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import API_TOKEN
from tests.redis_server import RedisServer, free_port

HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}


@contextmanager
def serve(database_url: str, redis_url: str, logs: list[Path]) -> Iterator[list[str]]:
    """`serve` processes (the uvicorn factory `serve --workers` uses), started together."""
    started = [_spawn(database_url, redis_url, log) for log in logs]
    try:
        for (base, process), log in zip(started, logs, strict=True):
            _wait_ready(base, process, log)
        yield [base for base, _ in started]
    finally:
        for _, process in started:
            process.send_signal(signal.SIGTERM)
        for _, process in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _spawn(database_url: str, redis_url: str, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {
        **os.environ,
        "LEADFLOW_DATABASE_URL": database_url,
        "LEADFLOW_REDIS_URL": redis_url,
        "LEADFLOW_API_TOKEN": API_TOKEN,
        "LEADFLOW_CACHE_NAMESPACE": "two-processes",
        "LEADFLOW_CACHE_PROBE_INTERVAL_SECONDS": "0.5",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
            [
                sys.executable,
                "-m",
                "uvicorn",
                "leadflow.api.app:create_served_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return f"http://127.0.0.1:{port}", process


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120  # a loaded 2-core machine imports slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {log.read_text(errors='replace')}")
        try:
            stats = httpx.get(f"{base}/api/cache/stats", headers=HEADERS, timeout=2).json()
            if stats["redis"]["subscribed"] and stats["circuit"]["state"] == "closed":
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"serve did not come up: {log.read_text(errors='replace')}")


@pytest.mark.slow
def test_a_write_in_one_process_stops_the_other_serving_the_old_value(
    database_url: str, engine: AsyncEngine, redis_server: RedisServer, tmp_path: Path
) -> None:
    with (
        serve(database_url, redis_server.url, [tmp_path / "a.log", tmp_path / "b.log"]) as (a, b),
        httpx.Client(headers=HEADERS, timeout=10) as http,
    ):
        created = http.post(f"{a}/api/customers", json={"name": "Anna"})
        assert created.status_code == 201, created.text
        customer = created.json()["id"]
        # A invalidates before it answers and again once the request is done (InvalidateOnWrite):
        # a copy B caches before the second one arrives is dropped by it. Start once B heard both.
        _wait_heard(http, b, 2)
        urls = ["/api/customers", "/api/dashboard/stats", f"/api/customers/{customer}/overview"]
        for url in urls:
            http.get(f"{b}{url}")
            assert http.get(f"{b}{url}").headers["X-Cache"] == "hit", url  # B's near cache

        renamed = http.patch(f"{a}/api/customers/{customer}", json={"name": "Anna Berg"})
        assert renamed.status_code == 200

        listed = http.get(f"{b}/api/customers")
        assert [c["name"] for c in listed.json()["items"]] == ["Anna Berg"]
        overview = http.get(f"{b}/api/customers/{customer}/overview").json()
        assert overview["customer"]["name"] == "Anna Berg"

        assert http.post(f"{a}/api/customers", json={"name": "Bo"}).status_code == 201
        stats = http.get(f"{b}/api/dashboard/stats").json()
        assert stats["customers"]["total"] == 2
        b_stats = http.get(f"{b}/api/cache/stats").json()
        # Both of the create's (waited for above), and at least the first of the rename's and
        # of Bo's: B could not have served the new name and count without them.
        assert b_stats["invalidations"]["remote"] >= 4
        assert b_stats["invalidations"]["local"] == 0  # B wrote nothing: it only listened


def _wait_heard(http: httpx.Client, base: str, remote: int) -> None:
    """Return once the process at `base` has received `remote` invalidations from others."""
    deadline = time.monotonic() + 30
    heard = 0
    while time.monotonic() < deadline:
        heard = http.get(f"{base}/api/cache/stats").json()["invalidations"]["remote"]
        if heard >= remote:
            return
        time.sleep(0.01)
    raise AssertionError(f"heard {heard} of {remote} invalidations")
