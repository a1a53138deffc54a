"""`leadflow worker` with LEADFLOW_METRICS_DIR: its figures reach the metrics files that
`serve`'s /metrics adds up — its Gmail calls, and (sampled as each serve worker samples itself)
its database pool, its cache and its process; once it stops, its live gauges go, its counters
stay."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from leadflow.maintenance.schema import upgrade_database
from leadflow.settings import Settings
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_server import serve_in_thread, write_credentials
from tests.monitoring.scrape import Samples, parse, value
from tests.redis_server import RedisServer


def _read(metrics_dir: Path) -> Samples:
    """What serve's /metrics would add up from the files (the same collector it uses)."""
    if not metrics_dir.is_dir():
        return {}
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
    return parse(generate_latest(registry).decode())


def _sum(samples: Samples, name: str) -> float:
    """A family's samples added up over their labels."""
    return sum(v for (sample, _labels), v in samples.items() if sample == name)


def _wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"the worker stopped before {what}: {stderr[-2000:]}")
        assert time.monotonic() < deadline, f"no {what} within 60 s"
        time.sleep(0.1)


def test_the_workers_figures_reach_the_metrics_files_and_its_live_gauges_leave_with_it(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    database = f"sqlite:///{tmp_path / 'worker.db'}"
    asyncio.run(upgrade_database(Settings(_env_file=None, database_url=database)))  # type: ignore[call-arg]
    metrics_dir = tmp_path / "metrics"
    mailbox = FakeMailbox()
    mailbox.add_synthetic_messages(5)
    with serve_in_thread(mailbox) as base_url:
        write_credentials(mailbox, base_url, tmp_path / "gmail.json")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LEADFLOW_")},
            "LEADFLOW_DATABASE_URL": database,
            "LEADFLOW_GMAIL_API_URL": base_url,
            "LEADFLOW_GMAIL_CREDENTIALS": str(tmp_path / "gmail.json"),
            "LEADFLOW_GMAIL_USER": mailbox.email,
            "LEADFLOW_REDIS_URL": redis_server.url,
            "LEADFLOW_CACHE_WARM": "false",
            "LEADFLOW_METRICS_DIR": str(metrics_dir),
            "LEADFLOW_METRICS_SAMPLE_INTERVAL_SECONDS": "0.2",
            "LEADFLOW_SYNC_INTERVAL_SECONDS": "3600",  # one sync, then it waits
            "LEADFLOW_LOG_LEVEL": "WARNING",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        process = subprocess.Popen(
            [sys.executable, "-m", "leadflow.cli.main", "worker"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            calls = "leadflow_gmail_api_calls_total"
            _wait_for(
                lambda: value(_read(metrics_dir), calls, method="messages.list", status="200") > 0,
                "Gmail calls in the files",
                process,
            )
            _wait_for(
                lambda: _sum(_read(metrics_dir), "leadflow_cache_invalidations_total") > 0,
                "cache invalidation after the sync stored mail",
                process,
            )
            running = _read(metrics_dir)
            assert value(running, "process_resident_memory_bytes") > 10_000_000
            assert value(running, "process_open_fds") > 0
            assert value(running, "process_start_time_seconds") > 0
            assert value(running, "leadflow_db_pool_connections") >= 1
            assert value(running, "leadflow_cache_circuit_state", state="closed") == 1
            assert list(metrics_dir.glob(f"gauge_live*_{process.pid}.db"))
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                returncode = process.wait(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                if process.stderr is not None:
                    process.stderr.close()
    assert returncode == 0
    stopped = _read(metrics_dir)
    assert not list(metrics_dir.glob(f"gauge_live*_{process.pid}.db"))
    assert value(stopped, "process_resident_memory_bytes") == 0
    assert value(stopped, "leadflow_db_pool_connections") == 0
    # Counters stay: a scrape after the worker stopped still counts what it did.
    assert value(stopped, "process_cpu_seconds_total") > 0
    assert value(stopped, calls, method="messages.list", status="200") > 0
