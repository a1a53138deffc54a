"""Issue 7 item 10: the token is checked before the body is read, and bodies are capped
(`LEADFLOW_MAX_REQUEST_BYTES`) while they stream in, with or without a Content-Length."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow.api.app import create_app
from leadflow.settings import Settings
from tests.conftest import API_TOKEN

SMALL_LIMIT = 1_000


@pytest.fixture
async def small_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    app = create_app(settings.model_copy(update={"max_request_bytes": SMALL_LIMIT}))
    async with LifespanManager(app):
        yield app


def _client(app: FastAPI, *, token: str | None = API_TOKEN) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://leadflow.test", headers=headers
    )


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_malformed_json_without_the_token_is_a_401(app: FastAPI, token: str | None) -> None:
    async with _client(app, token=token) as client:
        response = await client.post(
            "/api/customers", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_an_unknown_api_path_without_the_token_is_a_401(app: FastAPI) -> None:
    async with _client(app, token=None) as client:
        assert (await client.get("/api/no-such-thing")).status_code == 401


async def _chunks(total: int, size: int = 100) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


async def test_a_declared_body_over_the_limit_is_a_413(small_app: FastAPI) -> None:
    async with _client(small_app) as client:
        response = await client.post("/api/customers", content=b" " * (SMALL_LIMIT + 1))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "LEADFLOW_MAX_REQUEST_BYTES" in error["message"]
    assert error["details"] == {"max_bytes": SMALL_LIMIT}


async def test_a_chunked_body_over_the_limit_is_a_413(small_app: FastAPI) -> None:
    received: list[int] = []
    chunks = _chunks(50 * SMALL_LIMIT)

    async def counted() -> AsyncIterator[bytes]:
        async for chunk in chunks:
            received.append(len(chunk))
            yield chunk

    async with _client(small_app) as client:
        response = await client.post("/api/customers", content=counted())
    assert response.status_code == 413
    # httpx's ASGI transport hands every chunk to the app in turn; the guard stopped asking
    # after the limit, so far fewer than the 50 KB were read.
    assert sum(received) <= SMALL_LIMIT + 200


async def test_a_body_within_the_limit_reaches_the_route(small_app: FastAPI) -> None:
    body = json.dumps({"name": "Ulla", "notes": "x" * (SMALL_LIMIT - 40)}).encode()
    assert len(body) <= SMALL_LIMIT
    async with _client(small_app) as client:
        response = await client.post(
            "/api/customers", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 201, response.text
    assert response.json()["notes"] == "x" * (SMALL_LIMIT - 40)


async def test_the_webhook_body_is_capped_too(small_app: FastAPI) -> None:
    async with _client(small_app, token=None) as client:
        response = await client.post("/webhooks/uptimerobot", content=_chunks(5 * SMALL_LIMIT))
    assert response.status_code == 413


# --- memory: a real server process, bodies sent over real sockets ---------------------------

BODY_BYTES = 40_000_000
PARALLEL = 8


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server_process(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> Iterator[tuple[int, int]]:
    """`leadflow`'s served app in its own process (one uvicorn process); yields (port, pid)."""
    port = _free_port()
    env = {
        **os.environ,
        "LEADFLOW_DATABASE_URL": settings.database_url,
        "LEADFLOW_API_TOKEN": API_TOKEN,
        "LEADFLOW_CACHE_WARM": "false",
        "LEADFLOW_LOG_LEVEL": "WARNING",
    }
    env.pop("LEADFLOW_REDIS_URL", None)
    command = [sys.executable, "-m", "uvicorn", "--factory", "leadflow.api.app:create_served_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


async def _wait_until_up(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(600):  # a bounded wait for a condition, not a sleep to fix a race
            try:
                if (await client.get("/health/live")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the server did not start")


async def _send_big_body(port: int, *, token: bool, chunked: bool) -> bytes:
    """POST a BODY_BYTES body; return the status line the server answered with."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [b"POST /api/customers HTTP/1.1", b"Host: leadflow", b"Content-Type: application/json"]
    if token:
        head.append(f"Authorization: Bearer {API_TOKEN}".encode())
    head.append(b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % BODY_BYTES)
    writer.write(b"\r\n".join(head) + b"\r\n\r\n")
    piece = b'{"name": "' + b"x" * (1_000_000 - 10)
    try:
        for _ in range(BODY_BYTES // len(piece)):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            await writer.drain()
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except ConnectionError:
        pass  # the server answered and closed without reading the rest: the point
    try:
        status = await asyncio.wait_for(reader.readline(), 30)
    except ConnectionError:
        status = b""
    writer.close()
    return status


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
async def test_large_bodies_do_not_grow_the_servers_memory(
    server_process: tuple[int, int],
) -> None:
    """Issue 7: 8 parallel 50 MB POSTs without a token took a server from 254 MB to 713 MB.

    Here 3 rounds of 8 parallel 40 MB bodies (without a token, with one and a Content-Length,
    with one and chunked) may raise the server's peak memory by a few MB at most.
    """
    port, pid = server_process
    await _wait_until_up(port)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as warm:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        assert (await warm.get("/api/customers", headers=headers)).status_code == 200
    before = _memory_kib(pid, "VmRSS")
    answers: list[bytes] = []
    for token, chunked in [(False, False), (True, False), (True, True)]:
        answers += await asyncio.gather(
            *(_send_big_body(port, token=token, chunked=chunked) for _ in range(PARALLEL))
        )
    peak = _memory_kib(pid, "VmHWM")
    assert peak - before < 40_000, f"peak RSS rose by {(peak - before) / 1024:.0f} MB"
    statuses = {answer.split(b" ")[1] for answer in answers if answer}
    assert statuses <= {b"401", b"413"}
    assert b"401" in statuses
    assert b"413" in statuses
