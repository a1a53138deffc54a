"""Issue #13: server time of every dashboard page at the small seed scale (target ≤ 100 ms).

    uv run python -m bench.dashboard_pages [--db sqlite|postgresql|both] [--requests 100]

Seeds a scratch database with `leadflow db seed --scale small` (SQLite: a temporary file;
PostgreSQL: `leadflow_bench_dashboard` on postgres@127.0.0.1, dropped afterwards), serves the app
in this process (httpx ASGI transport: no network, so the time is the server's plus the client's
small share), logs in through the login form and GETs every dashboard page of the route table
`--requests` times, one at a time, after 5 warm-up requests. Item pages (`/dashboard/leads/{id}`)
take the first id of the API list of the same name. Two rounds: the cache as configured by
default (memory tier, as `leadflow serve` without Redis), and the cache off (every figure computed
from the database). Prints median and p95 per page, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from bench.db_reference import Steps, admin
from leadflow.api.app import create_app
from leadflow.dashboard.web.deps import LOGIN_PATH, page_paths
from leadflow.maintenance.seed import seed_database
from leadflow.maintenance.seed_plan import SCALES, SeedPlan, anchor_for
from leadflow.monitoring.frontend_check.routes import collection_for
from leadflow.settings import Settings

TOKEN = "bench-token-not-a-secret"  # noqa: S105 - a local benchmark server
PG_NAME = "leadflow_bench_dashboard"
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _settings(url: str, *, cache: bool) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        api_token=TOKEN,
        redis_url=None,
        cache_enabled=cache,
        cache_warm=False,
    )


def page_templates(app: Any) -> list[str]:
    """Every GET page of the dashboard, from the route table (the login form left out)."""
    return [path for path in page_paths(app) if path != LOGIN_PATH]


async def _fill(client: httpx.AsyncClient, template: str) -> str:
    path = template
    for param in _PARAM.findall(template):
        listing = await client.get(
            collection_for(template, param), headers={"Authorization": f"Bearer {TOKEN}"}
        )
        first = listing.json()["items"][0]["id"]
        path = re.sub(r"\{" + param + r"(?::[^}]*)?\}", str(first), path)
    return path


async def measure(url: str, *, cache: bool, requests: int) -> dict[str, dict[str, float]]:
    app = create_app(_settings(url, cache=cache))
    results: dict[str, dict[str, float]] = {}
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client,
    ):
        form = await client.get(LOGIN_PATH)
        found = _CSRF.search(form.text)
        assert found is not None
        await client.post(LOGIN_PATH, data={"csrf_token": found.group(1), "token": TOKEN})
        for template in page_templates(app):
            path = await _fill(client, template)
            for _ in range(5):
                answer = await client.get(path)
                assert answer.status_code == 200, (path, answer.status_code)
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                answer = await client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200
            times.sort()
            results[template] = {
                "median_ms": round(statistics.median(times), 2),
                "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 2),
                "max_ms": round(times[-1], 2),
            }
            print(
                f"  {template:34s} median {results[template]['median_ms']:7.2f} ms"
                f"   p95 {results[template]['p95_ms']:7.2f} ms"
            )
    return results


async def run_backend(backend: str, requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        if backend == "sqlite":
            url = f"sqlite:///{Path(scratch) / 'dashboard-bench.db'}"
        else:
            await admin(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
            await admin(f'CREATE DATABASE "{PG_NAME}"')
            url = f"postgresql://postgres@127.0.0.1:5432/{PG_NAME}"
        try:
            plan = SeedPlan(scale=SCALES["small"], seed=1, anchor=anchor_for())
            report = await seed_database(
                _settings(url, cache=True), plan, force=False, progress=Steps()
            )
            print(f"{backend}: seeded {report.rows} in {report.seconds} s")
            rounds = {}
            for cache in (True, False):
                print(f"{backend}, cache {'on (memory)' if cache else 'off'}:")
                rounds["cache_on" if cache else "cache_off"] = await measure(
                    url, cache=cache, requests=requests
                )
        finally:
            if backend == "postgresql":
                await admin(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
    return {"rows": report.rows, **rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    load_before = os.getloadavg()[0]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    results = {b: asyncio.run(run_backend(b, args.requests)) for b in backends}
    print(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "machine": machine,
                "load_1min_before": round(load_before, 2),
                "load_1min_after": round(os.getloadavg()[0], 2),
                "requests_per_page": args.requests,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
