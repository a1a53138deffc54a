"""Shared parts of the Gmail sync benchmarks: the fake in a subprocess, a scratch database, and
one full sync measured in a fresh Python process (so its peak RSS is that sync's own).

`run_sync(options)` starts `python -m bench.sync_common --child '<json options>'`, which starts
the fake (`tests.fakes.gmail_server`, uvicorn, another process), creates a scratch database
(PostgreSQL postgres@127.0.0.1, trust; or a SQLite file), runs `leadflow.sync.job.sync_mailbox`
against the fake, and prints one JSON line of figures: elapsed time, messages/s, the client's
counters, the fake's counters and, with `verify`, a check of the stored ids against the fake's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from leadflow.db import async_url, create_engine, create_sessionmaker
from leadflow.migrations import run_upgrade
from leadflow.models import EmailMessage, Lead
from leadflow.settings import Settings
from leadflow.sync.gmail import GmailClient, create_http_client
from leadflow.sync.gmail.auth import load_credentials
from leadflow.sync.job import sync_mailbox

ADMIN_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
USER = "info@rendetalje.dk"
ROOT = Path(__file__).resolve().parent.parent
QUOTA_OFF = 1e9  # client bucket rate when quota is off: measure the pipeline, not Gmail's limit


@dataclass(frozen=True)
class SyncOptions:
    """One benchmark sync. `client_rate` None = the settings default (250 units/s)."""

    messages: int
    batch_size: int = 50
    db: str = "postgresql"
    processors: bool = True
    quota: float | None = None  # the fake's units/s (None: no quota model)
    quota_mode: str = "lenient"  # the fake's accounting: token bucket, or "strict" 1 s window
    fault_rate: float = 0.0  # share of API calls (inner calls of a batch too) answered 429/500/503
    client_rate: float | None = QUOTA_OFF
    verify: bool = False  # compare stored gmail_message_ids with the fake's ids
    seed: int = 0  # the fake's random faults
    syncs: int = 1  # a failed sync is run again (as the scheduler would), up to this many times
    pg_settings: tuple[str, ...] = ()  # "name=value" set on the scratch database (diagnosis)
    large: int = 0  # messages of `large_mb` MB (an attachment) besides the synthetic ones
    large_mb: float = 25.0
    fetch_bytes: int | None = None  # LEADFLOW_SYNC_FETCH_BYTES (None: the default)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def fake_gmail(options: SyncOptions, credentials: Path) -> Iterator[str]:
    """The fake served by uvicorn in a subprocess; yields its base URL once it accepts calls."""
    port = free_port()
    command = [sys.executable, "-m", "tests.fakes.gmail_server", "--port", str(port)]
    command += ["--messages", str(options.messages), "--credentials-out", str(credentials)]
    command += ["--fault-rate", str(options.fault_rate)]
    command += ["--seed", str(options.seed)]
    command += ["--large", str(options.large), "--large-mb", str(options.large_mb)]
    if options.quota is not None:
        command += ["--quota", str(options.quota), "--quota-mode", options.quota_mode]
    # A fixed argument list of our own, no shell: nothing untrusted reaches the command.
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()  # printed once the messages exist
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
def scratch_database(kind: str, workdir: Path, pg_settings: tuple[str, ...] = ()) -> Iterator[str]:
    """A fresh, empty database URL, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    name = f"leadflow_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        for setting in pg_settings:
            key, _, value = setting.partition("=")
            asyncio.run(_admin(f'ALTER DATABASE "{name}" SET {key} = {value}'))
        yield ADMIN_PG.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def stored_check(engine: AsyncEngine, fake_ids: list[str]) -> dict[str, Any]:
    """Stored messages against the fake's: counts, duplicates, missing and unknown ids."""
    async with engine.connect() as conn:
        stored = list((await conn.execute(select(EmailMessage.gmail_message_id))).scalars())
        leads = await conn.scalar(select(func.count()).select_from(Lead))
        lead_ids = await conn.scalar(select(func.count(func.distinct(Lead.gmail_message_id))))
    unique = set(stored)
    expected = set(fake_ids)
    return {
        "fake_messages": len(fake_ids),
        "stored_rows": len(stored),
        "stored_distinct": len(unique),
        "duplicate_rows": len(stored) - len(unique),
        "missing": len(expected - unique),
        "unknown": len(unique - expected),
        "sets_equal": unique == expected,
        "leads": leads,
        "leads_distinct_messages": lead_ids,
    }


async def one_sync(
    options: SyncOptions, database_url: str, base_url: str, credentials: Path
) -> dict[str, Any]:
    """Migrate the database, run one full sync from the fake, return the figures."""
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        gmail_user=USER,
        redis_url=None,
        gmail_batch_size=options.batch_size,
    )
    if options.fetch_bytes is not None:
        settings = settings.model_copy(update={"sync_fetch_bytes": options.fetch_bytes})
    rate = options.client_rate or settings.gmail_quota_units_per_second
    engine = create_engine(settings, application_name="leadflow-bench")
    async with engine.connect() as conn:
        await conn.run_sync(run_upgrade)
        await conn.commit()
    clients: list[GmailClient] = []

    @asynccontextmanager
    async def factory(settings: Settings) -> AsyncIterator[GmailClient]:
        # As open_gmail_client, but with the fake's URL and the benchmark's bucket rate.
        async with create_http_client(concurrency=settings.gmail_concurrency) as http:
            client = GmailClient(
                base_url=base_url,
                user=USER,
                http=http,
                credentials=load_credentials(credentials, user=USER, http=http),
                units_per_second=rate,
                min_units_per_second=settings.gmail_quota_min_units_per_second,
                max_attempts=settings.gmail_max_attempts,
                concurrency=settings.gmail_concurrency,
                batch_size=settings.gmail_batch_size,
            )
            clients.append(client)
            yield client

    try:
        started = time.perf_counter()
        cpu_started = time.process_time()
        outcomes = []
        new = errors = 0
        for _ in range(options.syncs):
            result = await sync_mailbox(
                create_sessionmaker(engine),
                settings,
                client_factory=factory,
                processors=None if options.processors else (),
            )
            new, errors = new + result.new, errors + result.errors
            outcomes.append(f"{result.status}" + (f" ({result.error})" if result.error else ""))
            if result.ok:
                break
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        client_stats: dict[str, int] = {}
        for client in clients:
            for key, value in asdict(client.stats).items():
                client_stats[key] = client_stats.get(key, 0) + value
        figures: dict[str, Any] = {
            "status": str(result.status),
            "error": result.error,
            "syncs": outcomes,
            "messages": new,
            "sync_errors": errors,
            "seconds": elapsed,
            "per_second": new / elapsed,
            "cpu_ms_per_message": 1000 * cpu / max(new, 1),
            "client": client_stats,
            "client_rate": rate,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        async with httpx.AsyncClient(base_url=base_url) as http:
            figures["fake"] = (await http.get("/_fake/stats")).json()
            if options.verify:
                fake_ids = (await http.get("/_fake/ids")).json()
                figures["check"] = await stored_check(engine, fake_ids)
    finally:
        await engine.dispose()
    return figures


def child(options: SyncOptions) -> None:
    """One sync in this process; prints its figures as one JSON line."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        credentials = workdir / "credentials.json"
        with (
            fake_gmail(options, credentials) as base_url,
            scratch_database(options.db, workdir, tuple(options.pg_settings)) as url,
        ):
            figures = asyncio.run(one_sync(options, url, base_url, credentials))
    print(json.dumps(figures), flush=True)


def run_sync(options: SyncOptions) -> dict[str, Any]:
    """One sync in a fresh Python process; its figures."""
    command = [sys.executable, "-m", "bench.sync_common", "--child", json.dumps(asdict(options))]
    output = subprocess.run(  # noqa: S603 (our own module, fixed arguments, no shell)
        command, cwd=ROOT, check=True, capture_output=True, text=True
    )
    figures: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description="One benchmark sync (used by bench/sync_*.py).")
    parser.add_argument("--child", required=True, help="SyncOptions as JSON")
    args = parser.parse_args()
    child(SyncOptions(**json.loads(args.child)))


if __name__ == "__main__":
    main()
