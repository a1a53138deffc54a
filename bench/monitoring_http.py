"""Issue #12 benchmarks: /health/live under load, /health/ready with the database blackholed,
and the cost of the metrics middleware (on a cached endpoint too: `/api/dashboard/stats`, served
from the cache's memory tier). Needs `wrk` (apt-get install -y wrk).

    uv run python -m bench.monitoring_http live --duration 15 --connections 10,50
    uv run python -m bench.monitoring_http ready-blackholed --requests 50
    uv run python -m bench.monitoring_http overhead --duration 10 --rounds 3

Each server is `create_app` under uvicorn (1 worker, the default loop and HTTP parser, as
`leadflow serve` runs it) in its own process on 127.0.0.1, over a scratch SQLite database.
`overhead` alternates servers with and without the metrics middleware (the same app with
MetricsMiddleware taken out of its middleware list) and compares requests/s and p99 from wrk;
`overhead-asgi` calls the two apps directly in one process (no server, no network), in
alternating blocks, which a loaded machine disturbs far less.

    uv run python -m bench.monitoring_http overhead-asgi --calls 500 --blocks 10 [--control]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

TOKEN = "bench-token-not-secret"  # noqa: S105 - a local benchmark server
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(database_url: str, port: int, variant: str, health_timeout: float) -> None:
    import uvicorn

    from leadflow.api.app import create_app
    from leadflow.monitoring.metrics.http import MetricsMiddleware
    from leadflow.settings import Settings

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        api_token=TOKEN,
        log_level="WARNING",
        health_check_timeout=health_timeout,
        db_connect_timeout=30,
    )
    app = create_app(settings)
    if variant == "without":
        app.user_middleware = [m for m in app.user_middleware if m.cls is not MetricsMiddleware]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def server(database_url: str, variant: str = "with", health_timeout: float = 0.8) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - this script
        [
            sys.executable,
            "-m",
            "bench.monitoring_http",
            "serve",
            "--db",
            database_url,
            "--port",
            str(port),
            "--variant",
            variant,
            "--health-timeout",
            str(health_timeout),
        ],
        stdout=subprocess.DEVNULL,
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
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def wrk(url: str, *, connections: int, duration: int, threads: int = 2) -> dict[str, float]:
    """Run wrk; return requests/s and the 50/90/99th percentile latencies in ms."""
    threads = min(threads, connections)
    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    out = subprocess.run(  # noqa: S603
        [
            binary,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {TOKEN}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        assert match is not None, out
        result[f"p{pct}"] = float(match.group(1)) * _UNITS[match.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non2xx"] = float(errors.group(1)) if errors else 0.0
    return result


def _scratch_db() -> str:
    from leadflow.maintenance.schema import upgrade_database
    from leadflow.settings import Settings

    path = Path(tempfile.mkdtemp(prefix="leadflow-bench-")) / "bench.db"
    url = f"sqlite:///{path}"
    asyncio.run(upgrade_database(Settings(_env_file=None, database_url=url)))  # type: ignore[call-arg]
    return url


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_live(args: argparse.Namespace) -> None:
    with server(_scratch_db()) as base:
        wrk(f"{base}/health/live", connections=10, duration=3)  # warm-up
        for connections in (int(c) for c in args.connections.split(",")):
            r = wrk(f"{base}/health/live", connections=connections, duration=args.duration)
            print(
                f"/health/live c={connections} d={args.duration}s: {r['rps']:.0f} req/s, "
                f"p50 {r['p50']:.2f} ms, p90 {r['p90']:.2f} ms, p99 {r['p99']:.2f} ms, "
                f"non-2xx {r['non2xx']:.0f} (load {_load()})"
            )


def run_ready_blackholed(args: argparse.Namespace) -> None:
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    url = f"postgresql://leadflow@127.0.0.1:{hole.getsockname()[1]}/leadflow"
    timings = []
    statuses = set()
    with (
        server(url, health_timeout=args.health_timeout) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        for _ in range(args.requests):
            started = time.perf_counter()
            response = client.get("/health/ready")
            timings.append((time.perf_counter() - started) * 1000)
            statuses.add(response.status_code)
    hole.close()
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(
        f"/health/ready, database blackholed, check timeout {args.health_timeout} s, "
        f"{args.requests} sequential requests: statuses {sorted(statuses)}, median "
        f"{statistics.median(timings):.1f} ms, p99 {p99:.1f} ms, max {timings[-1]:.1f} ms "
        f"(load {_load()})"
    )


def run_overhead(args: argparse.Namespace) -> None:
    database = _scratch_db()
    paths = ["/health/live", "/api/dashboard/stats", "/api/customers?limit=1"]
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for round_no in range(args.rounds):
        for variant in ("without", "with") if round_no % 2 == 0 else ("with", "without"):
            with server(database, variant) as base:
                for path in paths:
                    wrk(f"{base}{path}", connections=args.connections, duration=2)  # warm-up
                    r = wrk(f"{base}{path}", connections=args.connections, duration=args.duration)
                    results.setdefault((path, variant), []).append(r)
                    print(
                        f"round {round_no + 1} {variant:<7} {path}: {r['rps']:.0f} req/s, "
                        f"p99 {r['p99']:.2f} ms (load {_load()})"
                    )
    for path in paths:
        base_rps = statistics.median(r["rps"] for r in results[(path, "without")])
        with_rps = statistics.median(r["rps"] for r in results[(path, "with")])
        base_p99 = statistics.median(r["p99"] for r in results[(path, "without")])
        with_p99 = statistics.median(r["p99"] for r in results[(path, "with")])
        print(
            f"{path}: median req/s without {base_rps:.0f}, with {with_rps:.0f} "
            f"(throughput cost {100 * (1 - with_rps / base_rps):.1f} %); median p99 without "
            f"{base_p99:.2f} ms, with {with_p99:.2f} ms"
        )


async def _asgi_call(app: object, path: str, query: bytes) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {TOKEN}".encode())],
    }
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        return None

    await app(scope, receive, send)  # type: ignore[operator]


async def _asgi_overhead(args: argparse.Namespace) -> None:
    from asgi_lifespan import LifespanManager

    from leadflow.api.app import create_app
    from leadflow.monitoring.metrics.http import MetricsMiddleware
    from leadflow.settings import Settings

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=args.database_url,
        api_token=TOKEN,
        log_level="WARNING",
    )
    apps = {"with": create_app(settings), "without": create_app(settings)}
    if not args.control:
        apps["without"].user_middleware = [
            m for m in apps["without"].user_middleware if m.cls is not MetricsMiddleware
        ]
    else:
        print("control run: both apps keep the middleware; any difference is noise")
    await _bare_middleware_cost(args)
    # /api/dashboard/stats is served from the cache (memory tier) after the first call.
    targets = [("/health/live", b""), ("/api/dashboard/stats", b""), ("/api/customers", b"limit=1")]
    async with LifespanManager(apps["with"]), LifespanManager(apps["without"]):
        for path, query in targets:
            per_call: dict[str, list[float]] = {"with": [], "without": []}
            for block in range(args.blocks * 2 + 1):
                order = ("with", "without") if block % 2 else ("without", "with")
                for variant in order:
                    started = time.perf_counter()
                    for _ in range(args.calls):
                        await _asgi_call(apps[variant], path, query)
                    elapsed = time.perf_counter() - started
                    if block:  # block 0 warms up both
                        per_call[variant].append(elapsed / args.calls * 1e6)
            base = statistics.median(per_call["without"])
            with_mw = statistics.median(per_call["with"])
            print(
                f"in-process {path}: median µs/request without {base:.1f}, with {with_mw:.1f} "
                f"(+{with_mw - base:.1f} µs, {100 * (with_mw / base - 1):.1f} %), "
                f"{args.blocks * 2} blocks of {args.calls} (load {_load()})"
            )


async def _bare_middleware_cost(args: argparse.Namespace) -> None:
    """The middleware around an app that answers at once: its own cost per request."""
    from leadflow.monitoring.metrics.http import MetricsMiddleware

    async def bare(scope: object, receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]

    apps = {"without": bare, "with": MetricsMiddleware(bare)}
    per_call: dict[str, list[float]] = {"with": [], "without": []}
    for block in range(args.blocks * 2 + 1):
        for variant in ("with", "without") if block % 2 else ("without", "with"):
            started = time.perf_counter()
            for _ in range(args.calls * 10):
                await _asgi_call(apps[variant], "/bare", b"")
            if block:
                per_call[variant].append((time.perf_counter() - started) / (args.calls * 10) * 1e6)
    base = statistics.median(per_call["without"])
    with_mw = statistics.median(per_call["with"])
    print(
        f"bare ASGI app: median µs/request without {base:.1f}, with the middleware "
        f"{with_mw:.1f} (the middleware itself: {with_mw - base:.1f} µs) (load {_load()})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    live = sub.add_parser("live")
    live.add_argument("--duration", type=int, default=15)
    live.add_argument("--connections", default="10,50")
    ready = sub.add_parser("ready-blackholed")
    ready.add_argument("--requests", type=int, default=50)
    ready.add_argument("--health-timeout", type=float, default=0.8)
    overhead = sub.add_parser("overhead")
    overhead.add_argument("--duration", type=int, default=10)
    overhead.add_argument("--rounds", type=int, default=3)
    overhead.add_argument("--connections", type=int, default=10)
    asgi = sub.add_parser("overhead-asgi")
    asgi.add_argument("--calls", type=int, default=500)
    asgi.add_argument("--blocks", type=int, default=10)
    asgi.add_argument(
        "--control", action="store_true", help="A/A: both apps with the middleware (noise floor)"
    )
    served = sub.add_parser("serve")
    served.add_argument("--db", required=True)
    served.add_argument("--port", type=int, required=True)
    served.add_argument("--variant", choices=["with", "without"], default="with")
    served.add_argument("--health-timeout", type=float, default=0.8)
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.db, args.port, args.variant, args.health_timeout)
    elif args.command == "live":
        run_live(args)
    elif args.command == "overhead-asgi":
        args.database_url = _scratch_db()
        asyncio.run(_asgi_overhead(args))
    elif args.command == "ready-blackholed":
        run_ready_blackholed(args)
    else:
        run_overhead(args)


if __name__ == "__main__":
    main()
