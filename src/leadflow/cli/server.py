"""Serving the API from the CLI (`serve`, `demo`): the listening socket first, then uvicorn.

The socket is bound (and listening) before anything else happens, so a port in use is one line
(exit 1) before data is loaded or a token is printed, and uvicorn serves on exactly that socket
(no second bind that another process could win in between).
"""

from __future__ import annotations

import errno
import socket

from leadflow.cli.errors import EXIT_FAILED, CliFailure
from leadflow.settings import Settings


def bind_listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port, or CliFailure saying why it cannot be."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CliFailure(f"cannot listen on {host}:{port}: {exc.strerror}", EXIT_FAILED) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CliFailure(
                f"port {port} on {host} is already in use: stop what listens there or choose "
                "another port (--port, or `make demo PORT=...`)",
                EXIT_FAILED,
            ) from None
        raise CliFailure(f"cannot listen on {host}:{port}: {exc.strerror}", EXIT_FAILED) from None
    # Listening now: a client that reads the banner and connects at once waits in the backlog
    # while uvicorn starts, instead of being refused.
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_server(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    background_sync: bool = True,
    sock: socket.socket | None = None,
) -> None:
    """Serve the API (on `sock` when given, already bound to host:port)."""
    from leadflow.monitoring.metrics.multiproc import use_metrics_dir

    # Before anything imports prometheus_client (uvicorn's workers inherit the variable).
    use_metrics_dir(settings, workers=workers)
    import uvicorn

    from leadflow.logs import configure_logging

    configure_logging(settings)
    if workers > 1:
        from leadflow.cli.workers import run_workers

        # Each worker process builds its app from the environment, so pass settings through it.
        run_workers("leadflow.api.app:create_served_app", host=host, port=port, workers=workers)
        return
    from leadflow.api.app import create_app

    app = create_app(settings, background_sync=background_sync)
    # loop and http stay "auto": uvloop and httptools (dependencies) when they import, which
    # about halves the server's own CPU per request (docs/benchmarks.md, issue #10).
    config = uvicorn.Config(app, host=host, port=port, log_config=None)
    server = uvicorn.Server(config)
    server.run(sockets=[sock or bind_listener(host, port)])
