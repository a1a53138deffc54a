"""Serve a FakeMailbox over real TCP: in a thread for end-to-end tests, or as a process.

    uv run python -m tests.fakes.gmail_server --port 8765 --messages 10000 \
        --credentials-out /tmp/fake-gmail-credentials.json [--quota 250] [--fault-rate 0.2] \
        [--quota-mode strict] [--quota-refusal 403] [--max-concurrent 10]

prints the base URL; point LEADFLOW_GMAIL_API_URL at it and LEADFLOW_GMAIL_CREDENTIALS at the
written authorized_user file (its token_uri is the fake's /token). As a process it also answers
GET /_fake/stats (calls, units charged, 429s with their times, injected faults) and
GET /_fake/ids (every message id), for the benchmarks in bench/.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tests import threaded_server
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_wire import large_raw_email


def serve_in_thread(
    mailbox: FakeMailbox, *, host: str = "127.0.0.1"
) -> AbstractContextManager[str]:
    """Run the fake under uvicorn on a free port in a daemon thread; the context yields its URL."""
    return threaded_server.serve_in_thread(mailbox.app, name="fake-gmail", host=host)


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


class RecordingMailbox(FakeMailbox):
    """A FakeMailbox that also notes when quota was charged or refused and which faults it sent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_charge: float | None = None  # clock time of the first call that reached quota
        self.last_charge: float | None = None
        self.throttle_times: list[float] = []
        self.faults_sent: Counter[int] = Counter()

    def _charge(self, method: str) -> Response | None:
        refusal = super()._charge(method)
        now = self.clock.now()
        if self.first_charge is None:
            self.first_charge = now
        if refusal is None:
            self.last_charge = now
        else:
            self.throttle_times.append(now)
        return refusal

    def _take_fault(self, method: str, message_id: str | None) -> Response | None:
        refusal = super()._take_fault(method, message_id)
        if refusal is not None:
            self.faults_sent[refusal.status_code] += 1
        return refusal

    def stats(self) -> dict[str, Any]:
        """Counters for a benchmark; times are seconds after the first charged call."""
        with self._lock:
            start = self.first_charge or 0.0
            return {
                "calls": dict(self.calls),
                "batch_requests": self.batch_requests,
                "units_charged": self.units_charged,
                "throttled": self.throttled,
                "throttle_times": [round(t - start, 4) for t in self.throttle_times],
                "charge_window": (self.last_charge or start) - start,
                "faults_sent": {str(k): v for k, v in sorted(self.faults_sent.items())},
                "messages": len(self.messages),
                "cpu_seconds": time.process_time(),  # the fake's whole process, start-up included
            }


def with_bench_routes(mailbox: RecordingMailbox) -> ASGIApp:
    """The mailbox's app plus GET /_fake/stats and /_fake/ids, which no quota or fault touches."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path") if scope["type"] == "http" else None
        if path == "/_fake/stats":
            await JSONResponse(mailbox.stats())(scope, receive, send)
        elif path == "/_fake/ids":
            with mailbox._lock:
                ids = sorted(mailbox.messages)
            await JSONResponse(ids)(scope, receive, send)
        else:
            await mailbox.app(scope, receive, send)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Gmail API v1 mailbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--email", default="info@rendetalje.dk")
    parser.add_argument("--messages", type=int, default=100, help="synthetic messages to add")
    parser.add_argument("--large", type=int, default=0, help="large messages to add besides")
    parser.add_argument("--large-mb", type=float, default=25.0, help="raw size of each (MB)")
    parser.add_argument("--quota", type=float, default=None, help="units per second (off)")
    parser.add_argument(
        "--quota-mode",
        choices=("lenient", "strict"),
        default="lenient",
        help="token bucket with 1 s of burst, or a 1 s sliding window counted at arrival",
    )
    parser.add_argument(
        "--quota-refusal", type=int, choices=(429, 403), default=429, help="over-quota status"
    )
    parser.add_argument(
        "--max-concurrent", type=int, default=None, help="429 beyond this many requests at once"
    )
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of 429/500/503")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--credentials-out", type=Path, default=None)
    args = parser.parse_args()
    mailbox = RecordingMailbox(
        email=args.email,
        quota_units_per_second=args.quota,
        quota_mode=args.quota_mode,
        quota_refusal=args.quota_refusal,
        max_concurrent_requests=args.max_concurrent,
        fault_rate=args.fault_rate,
        seed=args.seed,
    )
    for message in mailbox.add_synthetic_messages(args.messages):
        message.snippet()  # Gmail has its snippets ready; so should the fake before serving
    for n in range(args.large):
        large = mailbox.add_message(large_raw_email(n, int(args.large_mb * 1_000_000)))
        large.snippet()
    base_url = f"http://{args.host}:{args.port}"
    if args.credentials_out is not None:
        write_credentials(mailbox, base_url, args.credentials_out)
    print(base_url, flush=True)
    uvicorn.run(with_bench_routes(mailbox), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
