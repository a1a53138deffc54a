"""`leadflow serve --workers N`: uvicorn's worker supervisor on a listening socket marked TCP.

uvicorn binds the shared socket with protocol 0; accepted connections inherit it, and asyncio
sets TCP_NODELAY only on sockets that say IPPROTO_TCP. So with several workers Nagle's algorithm
stayed on and every keep-alive response after the first waited ~40 ms for the client's delayed
ACK (uvicorn issue #3149): one connection got 21 requests/s from `--workers 2` against ~300 from
one worker. The bound socket is re-wrapped as IPPROTO_TCP before the workers inherit it.
"""

from __future__ import annotations

import contextlib
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess


def as_tcp(sock: socket.socket) -> socket.socket:
    """The same bound socket, saying IPPROTO_TCP (so asyncio disables Nagle on connections)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto != 0:
        return sock
    tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    tcp.set_inheritable(True)
    return tcp


class _TcpConfig(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        return as_tcp(super().bind_socket())


def run_workers(app: str, *, host: str, port: int, workers: int) -> None:
    """Serve the app factory `app` (import string) in `workers` processes."""
    config = _TcpConfig(app, factory=True, host=host, port=port, workers=workers, log_config=None)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[config.bind_socket()]).run()
