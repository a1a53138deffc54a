"""Issue #10 (b): the API's list and detail endpoints and the dashboard under load, uncached.

    uv run python -m bench.api_load [--name ref] [--seconds 10] [--connections 32]

Serves `leadflow_bench_<name>` (seeded by `bench.db_reference seed`) with `leadflow serve` (one
worker, its own process, a free port; the cache switched off, so every request reads the
database)
and runs wrk (Debian package `wrk`) against each endpoint in turn, `--connections` connections
and 2 threads for `--seconds` seconds after a 2-second warm-up. The trivial route is `/docs`
(FastAPI's Swagger UI page: a fixed HTML string, no database, no auth). Prints one JSON object:
requests/s and latency p50/p99 per endpoint, and each endpoint's requests/s as a share of the
trivial route's in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
from sqlalchemy import text

from bench.db_reference import bench_settings
from leadflow.db import create_engine

TRIVIAL = "/docs"
_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def targets(name: str) -> dict[str, str]:
    """Endpoint label → path, with ids taken from the seeded data."""
    engine = create_engine(bench_settings(name))
    try:
        async with engine.connect() as conn:

            async def one(sql: str) -> Any:
                return (await conn.execute(text(sql))).scalar_one()

            customer = await one(
                "SELECT customer_id FROM email_threads WHERE customer_id IS NOT NULL "
                "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1 OFFSET 20"
            )
            thread = await one("SELECT id FROM email_threads WHERE message_count = 6 LIMIT 1")
            lead = await one("SELECT max(id) FROM leads")
            booking = await one("SELECT max(id) FROM bookings")
            unmatched = await one(
                "SELECT max(id) FROM email_threads WHERE customer_id IS NULL AND message_count > 1"
            )
    finally:
        await engine.dispose()
    return {
        "trivial (/docs)": TRIVIAL,
        "GET /api/customers": "/api/customers",
        "GET /api/customers/{id}": f"/api/customers/{customer}",
        "GET /api/customers/{id}/threads": f"/api/customers/{customer}/threads",
        "GET /api/customers/{id}/leads": f"/api/customers/{customer}/leads",
        "GET /api/customers/{id}/bookings": f"/api/customers/{customer}/bookings",
        "GET /api/customers/{id}/overview": f"/api/customers/{customer}/overview",
        "GET /api/leads": "/api/leads",
        "GET /api/leads?status=new": "/api/leads?status=new",
        "GET /api/leads/{id}": f"/api/leads/{lead}",
        "GET /api/threads": "/api/threads",
        "GET /api/threads?matched=false": "/api/threads?matched=false",
        "GET /api/threads/{id}": f"/api/threads/{thread}",
        "GET /api/threads/{id}/suggestions": f"/api/threads/{unmatched}/suggestions",
        "GET /api/bookings": "/api/bookings",
        "GET /api/bookings/{id}": f"/api/bookings/{booking}",
        "GET /api/sync/runs": "/api/sync/runs",
        "GET /api/matching/stats": "/api/matching/stats",
        "GET /api/uptime": "/api/uptime",
        "GET /api/cache/stats": "/api/cache/stats",
        "GET /api/dashboard/stats": "/api/dashboard/stats",
    }


def serve(name: str, port: int) -> subprocess.Popen[bytes]:
    settings = bench_settings(name)
    env = {
        **os.environ,
        "LEADFLOW_DATABASE_URL": settings.database_url,
        "LEADFLOW_API_TOKEN": settings.api_token.get_secret_value() if settings.api_token else "",
        "LEADFLOW_LOG_LEVEL": "WARNING",
        "LEADFLOW_CACHE_ENABLED": "false",  # uncached: every request reads the database
        "LEADFLOW_CACHE_WARM": "false",
    }
    env.pop("LEADFLOW_GMAIL_CREDENTIALS", None)
    command = [sys.executable, "-m", "leadflow.cli.main", "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env)  # noqa: S603 - our own command line


def wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + TRIVIAL, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("leadflow serve did not come up")


def wrk(url: str, token: str, *, seconds: int, connections: int) -> dict[str, Any]:
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    header = ["-H", f"Authorization: Bearer {token}"]
    base = [wrk_path, "-t2", f"-c{connections}", *header, "--latency"]
    subprocess.run([*base, "-d2s", url], capture_output=True, check=True)  # noqa: S603
    out = subprocess.run(  # noqa: S603
        [*base, f"-d{seconds}s", url], capture_output=True, check=True, text=True
    ).stdout
    latency = {p: _ms(v, unit) for p, v, unit in _LATENCY.findall(out)}
    rate = _RATE.search(out)
    errors = _ERRORS.search(out)
    return {
        "requests_per_s": float(rate.group(1)) if rate else None,
        "p50_ms": latency.get("50"),
        "p99_ms": latency.get("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def _ms(value: str, unit: str) -> float:
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="ref")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--only", nargs="*", default=[], help="Labels containing any of these (trivial always)."
    )
    args = parser.parse_args()
    paths = {
        label: path
        for label, path in asyncio.run(targets(args.name)).items()
        if path == TRIVIAL or not args.only or any(part in label for part in args.only)
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token = bench_settings(args.name).api_token
    assert token is not None
    server = serve(args.name, port)
    results: dict[str, Any] = {}
    load = [round(os.getloadavg()[0], 2)]
    try:
        wait_until_up(base)
        for label, path in paths.items():
            results[label] = wrk(
                base + path,
                token.get_secret_value(),
                seconds=args.seconds,
                connections=args.connections,
            )
            results[label]["path"] = path
    finally:
        server.terminate()
        server.wait(timeout=30)
    load.append(round(os.getloadavg()[0], 2))
    trivial = results["trivial (/docs)"]["requests_per_s"] or 1.0
    for figures in results.values():
        figures["share_of_trivial"] = round((figures["requests_per_s"] or 0) / trivial, 3)
    print(json.dumps({"load_1min": load, "endpoints": results}, indent=1))


if __name__ == "__main__":
    main()
