"""Serve an ASGI app over real TCP from a daemon thread (uvicorn on a free port).

For tests whose client is synchronous or runs in another process (the CLI, subprocesses), so
the server cannot share the test's event loop (see `tests.served` for that case).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import uvicorn
from starlette.types import ASGIApp


@contextmanager
def serve_in_thread(
    app: ASGIApp,
    *,
    name: str,
    lifespan: Literal["on", "off"] = "off",
    host: str = "127.0.0.1",
    timeout: float = 10,
) -> Iterator[str]:
    """Run `app` until the block ends; yield its base URL. `timeout` bounds start and stop."""
    config = uvicorn.Config(
        app, host=host, port=0, log_level="warning", lifespan=lifespan, interface="asgi3"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    # Waiting for a condition (bounded), not sleeping to fix a race.
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout)
