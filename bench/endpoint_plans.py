"""Issue #10, query discipline at reference scale: the plans PostgreSQL chooses, unforced.

    uv run python -m bench.endpoint_plans [--name ref]

The test (`tests/test_query_discipline.py`) plans every endpoint statement on a small seeded
database with `enable_seqscan = off`. This script does the same on `leadflow_bench_<name>` with
the planner's own choices and the real statistics, and prints, per endpoint and statement, the
scan nodes and any full scan of customers, leads, email_threads, email_messages or bookings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from tests.query_plans import capture, explain, full_scans
from tests.test_query_discipline import _ids, endpoints

from bench.db_reference import bench_settings
from bench.query_shapes import scan_nodes
from leadflow.api.app import create_app


async def plans(name: str) -> dict[str, Any]:
    settings = bench_settings(name)
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    app = create_app(settings)
    found: dict[str, Any] = {}
    async with LifespanManager(app):
        engine = app.state.engine
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://x", headers=headers) as c,
            engine.connect() as conn,
        ):
            for url in endpoints(await _ids(engine)):
                with capture(engine) as captured:
                    status = (await c.get(url)).status_code
                entries = []
                for sql, params in captured.selects:
                    plan = await explain(conn, sql, params)
                    dashboard = url.startswith("/api/dashboard")
                    entries.append(
                        {
                            "scans": scan_nodes(plan["Plan"]),
                            "full_scans": full_scans(plan, allow_index_only=dashboard),
                        }
                    )
                found[url] = {"status": status, "statements": entries}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="ref")
    args = parser.parse_args()
    result = asyncio.run(plans(args.name))
    problems = {
        url: [s["full_scans"] for s in v["statements"] if s["full_scans"]]
        for url, v in result.items()
    }
    print(
        json.dumps(
            {"endpoints": result, "full_scans": {k: v for k, v in problems.items() if v}}, indent=1
        )
    )


if __name__ == "__main__":
    main()
