"""Serve an app over real HTTP (uvicorn on a free port, in the test's event loop).

`httpx.ASGITransport` waits for the whole ASGI call, teardown included, before it hands the
response over; a real server sends the status line as soon as the app does. Tests about when an
answer leaves the process (before or after the commit) need the real thing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from tests.conftest import API_TOKEN


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run `app` on 127.0.0.1:<free port>; yield a client with the bearer token."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="critical")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    # Waiting for a condition (bounded), not sleeping to fix a race.
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        await task  # surfaces the start-up error
        raise RuntimeError("uvicorn did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=30,
        ) as client:
            yield client
    finally:
        server.should_exit = True
        await task
