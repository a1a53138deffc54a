"""`leadflow serve --workers 2`: every worker's /metrics answers with the figures of both —
HTTP counters, and the figures of each worker's own cache (on a Redis of the test's own)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from leadflow.maintenance.schema import upgrade_database
from leadflow.settings import Settings
from tests.monitoring.promtool import check_metrics
from tests.monitoring.scrape import Samples, parse, value
from tests.redis_server import RedisServer

TOKEN = "multiprocess-token-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[str, Path]]:
    database = f"sqlite:///{tmp_path / 'mp.db'}"
    asyncio.run(upgrade_database(Settings(_env_file=None, database_url=database)))  # type: ignore[call-arg]
    metrics_dir = tmp_path / "metrics"
    port = _free_port()
    env = {
        **os.environ,
        "LEADFLOW_DATABASE_URL": database,
        "LEADFLOW_API_TOKEN": TOKEN,
        "LEADFLOW_METRICS_DIR": str(metrics_dir),
        "LEADFLOW_LOG_LEVEL": "WARNING",
        "LEADFLOW_REDIS_URL": redis_server.url,
        # Every load is then a request's miss: the figures below can be counted exactly.
        "LEADFLOW_CACHE_WARM": "false",
        "LEADFLOW_METRICS_SAMPLE_INTERVAL_SECONDS": "0.2",
    }
    env.pop("LEADFLOW_GMAIL_CREDENTIALS", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "leadflow.cli.main", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {process.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.2)
        yield base, metrics_dir
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.slow
def test_two_workers_report_one_sum(served: tuple[str, Path]) -> None:
    base, metrics_dir = served
    sent = 200
    for _ in range(sent):  # a new connection each time, so both workers get some
        with httpx.Client(base_url=base, limits=httpx.Limits(max_keepalive_connections=0)) as c:
            assert c.get("/health/live").status_code == 200
    pids = {
        match.group(1)
        for path in metrics_dir.glob("counter_*.db")
        if (match := re.search(r"_(\d+)\.db$", path.name))
    }
    assert len(pids) >= 2, f"only {pids} answered"
    for _ in range(4):
        with httpx.Client(base_url=base, limits=httpx.Limits(max_keepalive_connections=0)) as c:
            text = c.get("/metrics").text
        samples = parse(text)
        live = value(
            samples,
            "leadflow_http_requests_total",
            route="/health/live",
            method="GET",
            status="200",
        )
        assert live == sent + 1  # and the readiness probe of the fixture
        result = check_metrics(text)
        assert result.returncode == 0, result.stdout + result.stderr


def _fresh(base: str) -> httpx.Client:
    """A client that opens a new connection per request, so both workers get some."""
    return httpx.Client(
        base_url=base,
        headers={"Authorization": f"Bearer {TOKEN}"},
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def _cache_figures(samples: Samples) -> tuple[float, float, float]:
    """(hits in any tier, loads, cached-route requests) as /metrics sums them."""
    hits = sum(
        value(samples, "leadflow_cache_hits_total", tier=tier) for tier in ("memory", "redis")
    )
    requests = value(
        samples, "leadflow_http_requests_total", route="/api/customers", method="GET", status="200"
    )
    return hits, value(samples, "leadflow_cache_loads_total"), requests


@pytest.mark.slow
def test_each_workers_cache_adds_up_in_every_workers_metrics(served: tuple[str, Path]) -> None:
    base, _ = served
    answers = []
    with _fresh(base) as client:
        for _ in range(60):
            response = client.get("/api/customers")
            assert response.status_code == 200
            answers.append(response.headers["X-Cache"])
        workers: dict[int, dict[str, object]] = {}
        deadline = time.monotonic() + 30
        while len(workers) < 2:  # each worker answers its own /api/cache/stats
            assert time.monotonic() < deadline, f"only {set(workers)} answered"
            stats = client.get("/api/cache/stats").json()
            workers[stats["pid"]] = stats
    hits, misses = answers.count("hit"), answers.count("miss")
    # Sequential reads: a hit is one tier's hit, a miss is one load, in the worker that answered.
    by_workers = (
        sum(w["memory"]["hits"] + w["redis"]["hits"] for w in workers.values()),  # type: ignore[index]
        sum(w["loads"] for w in workers.values()),  # type: ignore[misc]
    )
    assert by_workers == (hits, misses)
    # One kept-alive connection scrapes one worker only: the other worker's figures get there
    # because each worker samples itself while idle too.
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=base) as scraper:
        while True:
            text = scraper.get("/metrics").text
            figures = _cache_figures(parse(text))
            if figures == (hits, misses, len(answers)) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert figures == (hits, misses, len(answers))
    result = check_metrics(text)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_a_killed_workers_live_gauges_stop_counting(served: tuple[str, Path]) -> None:
    base, metrics_dir = served
    pids: set[int] = set()
    deadline = time.monotonic() + 30
    with _fresh(base) as client:
        while len(pids) < 2:
            assert time.monotonic() < deadline, f"only {pids} answered"
            pids.add(client.get("/api/cache/stats").json()["pid"])
    victim = min(pids)

    def files(kind: str) -> list[Path]:
        return list(metrics_dir.glob(f"{kind}*_{victim}.db"))

    assert files("gauge_live"), "the worker wrote no live gauges"
    os.kill(victim, signal.SIGKILL)  # no shutdown: it cannot mark itself dead
    deadline = time.monotonic() + 30
    while files("gauge_live"):
        assert time.monotonic() < deadline, "the killed worker's live gauges stayed"
        time.sleep(0.1)
    assert files("counter"), "its counters must stay (they may not go backwards)"
