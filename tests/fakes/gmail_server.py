"""Serve a FakeMailbox over real TCP: in a thread for end-to-end tests, or as a process.

    uv run python -m tests.fakes.gmail_server --port 8765 --messages 10000 \
        --credentials-out /tmp/fake-gmail-credentials.json [--quota 250] [--fault-rate 0.2]

prints the base URL; point LEADFLOW_GMAIL_API_URL at it and LEADFLOW_GMAIL_CREDENTIALS at the
written authorized_user file (its token_uri is the fake's /token).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from tests.fakes.gmail import FakeMailbox


@contextmanager
def serve_in_thread(mailbox: FakeMailbox, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Run the fake under uvicorn on a free port in a daemon thread; yield its base URL."""
    config = uvicorn.Config(mailbox.app, host=host, port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-gmail", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("fake Gmail server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def write_credentials(mailbox: FakeMailbox, base_url: str, path: Path) -> None:
    """Register an OAuth client with the fake and write a matching authorized_user file."""
    mailbox.tokens.register_authorized_user("fake-client", "fake-secret", "fake-refresh-token")
    info = {
        "type": "authorized_user",
        "client_id": "fake-client",
        "client_secret": "fake-secret",
        "refresh_token": "fake-refresh-token",
        "token_uri": f"{base_url}/token",
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(info, handle)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Gmail API v1 mailbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--email", default="info@rendetalje.dk")
    parser.add_argument("--messages", type=int, default=100, help="synthetic messages to add")
    parser.add_argument("--quota", type=float, default=None, help="units per second (off)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of 429/500/503")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--credentials-out", type=Path, default=None)
    args = parser.parse_args()
    mailbox = FakeMailbox(
        email=args.email,
        quota_units_per_second=args.quota,
        fault_rate=args.fault_rate,
        seed=args.seed,
    )
    for message in mailbox.add_synthetic_messages(args.messages):
        message.snippet()  # Gmail has its snippets ready; so should the fake before serving
    base_url = f"http://{args.host}:{args.port}"
    if args.credentials_out is not None:
        write_credentials(mailbox, base_url, args.credentials_out)
    print(base_url, flush=True)
    uvicorn.run(mailbox.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
