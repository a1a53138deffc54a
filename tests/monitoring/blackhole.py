"""Hung dependencies: a port that never accepts, and a server that accepts and never answers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager


@contextmanager
def blackholed_port() -> Iterator[int]:
    """Listen on 127.0.0.1:<port> without ever accepting; yield the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        yield sock.getsockname()[1]
    finally:
        sock.close()


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """Accept every connection on 127.0.0.1:<port>, read what comes, never answer (a Redis
    whose event loop is stuck); yield the port."""
    writers: set[asyncio.StreamWriter] = set()

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in list(writers):
            writer.transport.abort()
        await server.wait_closed()
