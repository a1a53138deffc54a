"""End-to-end full-sync throughput from the Gmail fake (another process, over TCP).

For each mode (single `messages.get` calls, or HTTP batches of `--batch-size`) and each run:
start `tests.fakes.gmail_server` with `--messages` synthetic emails in a subprocess, create a
scratch PostgreSQL database (postgres@127.0.0.1, trust) or SQLite file, run
`leadflow.mail.sync.sync_mailbox` in a fresh Python process with a client factory pointing at
the fake (quota and faults off), print messages/s and that process's peak RSS, clean up.
Prints the median of the runs per mode.

Usage: uv run python -m bench.sync_throughput [--messages 3000] [--runs 3]
       [--modes single,batch] [--batch-size 50] [--db postgresql|sqlite] [--no-processors]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from leadflow.db import async_url, create_engine, create_sessionmaker
from leadflow.mail.gmail import GmailClient, create_http_client
from leadflow.mail.gmail.auth import load_credentials
from leadflow.mail.sync import sync_mailbox
from leadflow.migrations import run_upgrade
from leadflow.settings import Settings

ADMIN_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
USER = "info@rendetalje.dk"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def fake_gmail(messages: int, credentials: Path) -> Iterator[str]:
    """The fake served by uvicorn in a subprocess; yields its base URL once it accepts calls."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "tests.fakes.gmail_server",
        "--port",
        str(port),
        "--messages",
        str(messages),
        "--credentials-out",
        str(credentials),
    ]
    # A fixed argument list of our own, no shell: nothing untrusted reaches the command.
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        if not base_url:
            raise RuntimeError("the fake Gmail server did not start")
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the fake Gmail server is not listening") from None
                time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _admin(statement: str) -> None:
    engine = create_async_engine(async_url(ADMIN_PG), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def scratch_database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh, empty database URL, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    name = f"leadflow_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield ADMIN_PG.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def one_sync(
    database_url: str, base_url: str, credentials: Path, batch_size: int, processors: bool
) -> dict[str, float]:
    """Migrate the database, run one full sync from the fake, return the figures."""
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        gmail_user=USER,
        redis_url=None,
    )
    engine = create_engine(settings, application_name="leadflow-bench")
    async with engine.connect() as conn:
        await conn.run_sync(run_upgrade)
        await conn.commit()

    @asynccontextmanager
    async def factory(settings: Settings) -> AsyncIterator[GmailClient]:
        async with create_http_client(concurrency=settings.gmail_concurrency) as http:
            yield GmailClient(
                base_url=base_url,
                user=USER,
                http=http,
                credentials=load_credentials(credentials, user=USER, http=http),
                units_per_second=1e9,  # quota off: measure the pipeline, not Gmail's limit
                concurrency=settings.gmail_concurrency,
                batch_size=batch_size,
            )

    try:
        started = time.perf_counter()
        cpu_started = time.process_time()
        result = await sync_mailbox(
            create_sessionmaker(engine),
            settings,
            client_factory=factory,
            processors=None if processors else (),
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        await engine.dispose()
    if not result.ok or result.errors:
        raise RuntimeError(f"sync did not complete cleanly: {result}")
    return {
        "messages": result.new,
        "seconds": elapsed,
        "per_second": result.new / elapsed,
        "cpu_ms_per_message": 1000 * cpu / max(result.new, 1),
        "api_calls": result.api_calls,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child(args: argparse.Namespace) -> None:
    """One run in this process (so peak RSS is this run's own)."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        credentials = workdir / "credentials.json"
        with (
            fake_gmail(args.messages, credentials) as base_url,
            scratch_database(args.db, workdir) as url,
        ):
            figures = asyncio.run(
                one_sync(url, base_url, credentials, args.batch_size, not args.no_processors)
            )
    print(json.dumps(figures), flush=True)


def run_once(args: argparse.Namespace, batch_size: int) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "bench.sync_throughput",
        "--child",
        "--messages",
        str(args.messages),
        "--batch-size",
        str(batch_size),
        "--db",
        args.db,
    ]
    if args.no_processors:
        command.append("--no-processors")
    output = subprocess.run(  # noqa: S603 (our own module, fixed arguments, no shell)
        command, cwd=ROOT, check=True, capture_output=True, text=True
    )
    figures: dict[str, float] = json.loads(output.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="single,batch", help="single, batch or both")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--no-processors", action="store_true", help="skip leads + matching")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print(
        f"{args.messages} messages into {args.db}, {args.runs} runs per mode, "
        f"processors {'off' if args.no_processors else 'on'}, load {os.getloadavg()[0]:.2f}"
    )
    for mode in args.modes.split(","):
        batch_size = 1 if mode == "single" else args.batch_size
        runs = []
        for number in range(1, args.runs + 1):
            figures = run_once(args, batch_size)
            runs.append(figures)
            print(
                f"  {mode:6} run {number}: {figures['per_second']:7.0f} messages/s "
                f"({figures['seconds']:.1f} s, {figures['cpu_ms_per_message']:.2f} ms CPU/msg, "
                f"{figures['api_calls']:.0f} calls, peak RSS {figures['peak_rss_mb']:.0f} MB)",
                flush=True,
            )
        median = statistics.median(f["per_second"] for f in runs)
        rss = max(f["peak_rss_mb"] for f in runs)
        print(
            f"{mode} (batch size {batch_size}): median {median:.0f} messages/s, RSS ≤ {rss:.0f} MB"
        )
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
