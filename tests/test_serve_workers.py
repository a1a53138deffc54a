"""`serve --workers N` listens on a socket that lets asyncio turn Nagle's algorithm off."""

from __future__ import annotations

import asyncio
import socket

from uvicorn import Config

from leadflow.cli.workers import _TcpConfig, as_tcp


async def _nodelay_of_accepted(listener: socket.socket) -> int:
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    listener.listen()
    server = await asyncio.start_server(handle, sock=listener)
    try:
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        result = await asyncio.wait_for(accepted, 5)
        writer.close()
        return result
    finally:
        server.close()
        await server.wait_closed()


async def test_uvicorns_shared_socket_leaves_nagle_on_and_ours_turns_it_off() -> None:
    plain = Config("x:y", host="127.0.0.1", port=0).bind_socket()
    assert plain.proto == 0
    assert await _nodelay_of_accepted(plain) == 0  # the bug this module works around

    ours = _TcpConfig("x:y", host="127.0.0.1", port=0).bind_socket()
    assert ours.proto == socket.IPPROTO_TCP
    assert ours.get_inheritable()
    assert await _nodelay_of_accepted(ours) != 0


def test_a_unix_socket_is_left_as_it_is(tmp_path: object) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        assert as_tcp(unix) is unix
