"""A TCP port that takes connections into its backlog and never answers: a hung dependency."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


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
