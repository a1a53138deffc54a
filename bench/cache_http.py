"""Cache benchmarks over HTTP with wrk (issue #11): (a) cached dashboard stats vs a trivial route,
(b) cached vs uncached at the reference scale, (c) Redis killed under load for 10 s, (e) `serve
--workers 2` vs one worker.

Each scenario starts its own servers (uvicorn, in subprocesses) against one scratch PostgreSQL
database seeded by `bench.cache_seed` (dropped afterwards unless --database-url is given) and a
redis-server of its own on a free port. wrk runs on the same 2-core machine as the servers.

    uv run python -m bench.cache_http --scenario all --scale reference
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from tests.redis_server import RedisServer

from bench.cache_seed import seed
from bench.sync_common import free_port, scratch_database

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-not-a-secret"  # noqa: S105 - a scratch server's token
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
DASHBOARD = "/api/dashboard/stats"


@dataclass
class WrkResult:
    label: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    failed: int  # non-2xx/3xx plus socket errors
    load_before: float
    load_after: float


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(url: str, *, label: str, duration: float, connections: int, threads: int) -> WrkResult:
    """One wrk run; requests/s, p50/p99 latency and failures as wrk reports them."""
    load_before = os.getloadavg()[0]
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{round(duration)}s",
        "--latency",
        "--timeout",
        "30s",
        "-H",
        f"Authorization: Bearer {TOKEN}",
        url,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s|m)\b", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s|m)\b", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    failed = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        failed += sum(int(n) for n in socket_errors.groups())
    if p50 is None or p99 is None:
        raise RuntimeError(f"no latency distribution in wrk's output: {out}")
    return WrkResult(
        label,
        rps,
        _ms(*p50.groups()),
        _ms(*p99.groups()),
        total,
        failed,
        load_before,
        os.getloadavg()[0],
    )


@contextmanager
def server(
    database_url: str,
    redis_url: str | None,
    *,
    workers: int = 1,
    cache: bool = True,
    bench_app: bool = False,
    log: Path,
) -> Iterator[str]:
    """A served leadflow (the bench app for scenario (a), else `leadflow serve`)."""
    port = free_port()
    env = {
        **os.environ,
        "LEADFLOW_DATABASE_URL": database_url,
        "LEADFLOW_API_TOKEN": TOKEN,
        "LEADFLOW_CACHE_ENABLED": "true" if cache else "false",
        "LEADFLOW_LOG_LEVEL": "WARNING",
        "LEADFLOW_DB_POOL_SIZE": "10",
    }
    env.pop("LEADFLOW_REDIS_URL", None)
    if redis_url is not None:
        env["LEADFLOW_REDIS_URL"] = redis_url
    if bench_app:
        command = [sys.executable, "-m", "uvicorn", "bench.cache_app:create_bench_app"]
        command += ["--factory", "--port", str(port), "--log-level", "warning"]
        command += ["--no-access-log", "--workers", str(workers)]
    else:
        command = [sys.executable, "-m", "leadflow.cli.main", "serve", "--port", str(port)]
        command += ["--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, log, workers=workers, redis=redis_url is not None)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(
    base: str, process: subprocess.Popen[bytes], log: Path, *, workers: int, redis: bool
) -> None:
    deadline = time.monotonic() + 180
    ready: set[int] = set()
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            stats = httpx.get(f"{base}/api/cache/stats", headers=HEADERS, timeout=5).json()
            if not redis or stats["redis"]["subscribed"]:
                ready.add(stats["pid"])
            if len(ready) >= workers:
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready: {log.read_text(errors='replace')[-2000:]}")


def warm(base: str, urls: list[str], times: int = 20) -> None:
    """Ask each URL a few times over fresh connections (reaches every worker's memory)."""
    for _ in range(times):
        for url in urls:
            response = httpx.get(f"{base}{url}", headers=HEADERS, timeout=120)
            response.raise_for_status()


def scenario_a(db: str, redis: RedisServer, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with server(db, redis.url, bench_app=True, log=work / "a.log") as base:
        warm(base, [DASHBOARD, "/bench/trivial"])
        runs = []
        for round_ in range(args.rounds):
            for label, path in (("trivial", "/bench/trivial"), ("dashboard cached", DASHBOARD)):
                runs.append(_wrk(args, base + path, f"{label} #{round_ + 1}"))
    trivial = statistics.median(r.requests_per_s for r in runs if r.label.startswith("trivial"))
    cached = statistics.median(r.requests_per_s for r in runs if r.label.startswith("dashboard"))
    return {
        "runs": runs,
        "median_trivial": trivial,
        "median_cached": cached,
        "ratio": cached / trivial,
        "target": ">= 0.8",
    }


def scenario_b(db: str, redis: RedisServer, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    runs = []
    for round_ in range(args.rounds):
        for cached in (True, False):
            label = f"{'cached' if cached else 'uncached'} #{round_ + 1}"
            with server(db, redis.url, cache=cached, log=work / f"b-{label[:3]}.log") as base:
                warm(base, [DASHBOARD], times=3)
                runs.append(_wrk(args, base + DASHBOARD, label))
    cached_rps = statistics.median(r.requests_per_s for r in runs if r.label.startswith("cached"))
    uncached_rps = statistics.median(
        r.requests_per_s for r in runs if r.label.startswith("uncached")
    )
    return {
        "runs": runs,
        "median_cached": cached_rps,
        "median_uncached": uncached_rps,
        "ratio": cached_rps / uncached_rps,
        "target": ">= 10",
    }


class Writer(threading.Thread):
    """PATCH one customer every `interval` s, so invalidations flow through Redis and the
    dashboard is computed again now and then (as in real use); count failures."""

    def __init__(self, base: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.base, self.interval = base, interval
        self.stop = threading.Event()
        self.writes = self.failed = 0

    def run(self) -> None:
        with httpx.Client(headers=HEADERS, timeout=30) as http:
            while not self.stop.wait(self.interval):
                self.writes += 1
                try:
                    response = http.patch(
                        f"{self.base}/api/customers/1", json={"notes": f"w{self.writes}"}
                    )
                    self.failed += response.status_code >= 400
                except httpx.HTTPError:
                    self.failed += 1


def _circuit(base: str) -> tuple[str, int]:
    stats = httpx.get(f"{base}/api/cache/stats", headers=HEADERS, timeout=5).json()
    redis = stats["redis"]
    return stats["circuit"]["state"], redis["hits"] + redis["misses"] + redis["sets"]


def scenario_c(db: str, redis: RedisServer, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with server(db, redis.url, log=work / "c.log") as base:
        warm(base, [DASHBOARD])
        writer = Writer(base, interval=1.0)
        writer.start()
        before = _wrk(args, base + DASHBOARD, "before (Redis up)")
        killer = threading.Timer(0.5, redis.kill)
        killer.start()
        # Redis is down from 0.5 s into this run to its end: `duration` seconds under load.
        outage_args = argparse.Namespace(**{**vars(args), "duration": args.duration + 1})
        outage = _wrk(outage_args, base + DASHBOARD, "Redis down (killed 0.5 s in)")
        killer.join()
        down_state = _circuit(base)[0]
        redis.start()
        restarted = time.monotonic()
        result: dict[str, float] = {}

        def watch() -> None:
            _, ops = _circuit(base)
            while time.monotonic() - restarted < 30:
                state, now_ops = _circuit(base)
                if state == "closed" and "closed" not in result:
                    result["closed"] = time.monotonic() - restarted
                if "closed" in result and now_ops > ops:
                    result["serving"] = time.monotonic() - restarted
                    return
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        after = _wrk(args, base + DASHBOARD, "after the restart")
        watcher.join()
        writer.stop.set()
        writer.join()
    return {
        "runs": [before, outage, after],
        "circuit_while_down": down_state,
        "failed_requests": before.failed + outage.failed + after.failed + writer.failed,
        "writes": writer.writes,
        "failed_writes": writer.failed,
        "p99_ratio_outage_vs_before": outage.p99_ms / before.p99_ms,
        "seconds_until_closed": result.get("closed"),
        "seconds_until_redis_serves": result.get("serving"),
        "targets": {"failed": 0, "p99_ratio": "<= 2", "seconds_back": "<= 5"},
    }


def scenario_e(db: str, redis: RedisServer, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    runs = []
    for round_ in range(args.rounds):
        for workers in (1, 2):
            with server(db, redis.url, workers=workers, log=work / f"e{workers}.log") as base:
                warm(base, [DASHBOARD])
                runs.append(_wrk(args, base + DASHBOARD, f"workers={workers} #{round_ + 1}"))
    one = statistics.median(r.requests_per_s for r in runs if r.label.startswith("workers=1"))
    two = statistics.median(r.requests_per_s for r in runs if r.label.startswith("workers=2"))
    return {"runs": runs, "median_1": one, "median_2": two, "ratio": two / one, "target": ">= 1.3"}


def _wrk(args: argparse.Namespace, url: str, label: str) -> WrkResult:
    result = wrk(
        url, label=label, duration=args.duration, connections=args.connections, threads=args.threads
    )
    print(
        f"  {label}: {result.requests_per_s:,.1f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms, failed {result.failed}",
        flush=True,
    )
    return result


def machine() -> dict[str, Any]:
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name, command in {
        "redis": ["redis-server", "--version"],
        "wrk": ["wrk", "--version"],
        "postgres": ["psql", "--version"],
    }.items():
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
            versions[name] = (done.stdout or done.stderr).strip().splitlines()[0]
        except OSError:
            versions[name] = "missing"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        **versions,
        "load": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


SCENARIOS = {"a": scenario_a, "b": scenario_b, "c": scenario_c, "e": scenario_e}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--scale", choices=["reference", "small"], default="reference")
    parser.add_argument("--database-url", help="Use this (already seeded) database.")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    print(json.dumps(machine()), flush=True)
    chosen = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    with tempfile.TemporaryDirectory(prefix="leadflow-cache-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        if args.database_url:
            db = args.database_url
        else:
            db = stack.enter_context(scratch_database("postgresql", work))
            started = time.monotonic()
            import asyncio

            counts = asyncio.run(seed(db, scale=args.scale))
            print(f"seeded {counts} in {time.monotonic() - started:.1f} s", flush=True)
        redis = RedisServer(work / "redis")
        redis.start()
        stack.callback(redis.kill)
        for name in chosen:
            print(f"scenario ({name})", flush=True)
            if not redis.running:
                redis.start()
            outcome = SCENARIOS[name](db, redis, args, work)
            outcome["runs"] = [asdict(r) for r in outcome["runs"]]
            print(json.dumps({"scenario": name, **outcome}, default=str), flush=True)


if __name__ == "__main__":
    main()
