"""Issue #10 (b): how far a list page can go on this machine, part by part.

    uv run python -m bench.list_ceiling [--name ref] [--seconds 6] [--path /api/leads ...]

Takes each list path's real answer and real statements from `leadflow_bench_<name>` (the app
in-process, cache off, the second request of each path so the kept estimate is used), then, in
one run, measures with the same wrk load (2 threads, 32 connections):

1. `leadflow serve` (one worker): `/docs` and each list path, as `bench.api_cpu` does;
2. a bare server of the same kind (uvicorn with the same event loop and HTTP parser, one worker,
   a Starlette app with no middleware) answering `/docs`'s bytes and each list's bytes from
   memory: what the HTTP layer alone allows for answers of those sizes;
3. `pgbench` (32 clients, 2 threads, prepared statements) running each list's statements with
   its parameters written in: what PostgreSQL alone allows for that page, with the rest of the
   machine free of Python.

Each figure is req/s (transactions/s for pgbench) and its share of the leadflow `/docs` rate
in the same run, plus the CPU per request of the served process and of PostgreSQL (under
pgbench: the machine's busy time less pgbench's own, so anything else running counts too).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from tests.query_plans import capture

from bench.api_cpu import measure
from bench.api_load import TRIVIAL, free_port, serve, wait_until_up
from bench.db_reference import bench_settings, database_url
from leadflow.api.app import create_app

DEFAULT_PATHS = ("/api/customers?offset=50", "/api/leads?offset=50", "/api/threads?offset=50")
_TPS = re.compile(r"^tps = ([\d.]+)", re.MULTILINE)
_PGBENCH_VARIABLE = re.compile(r"(?<!:):[A-Za-z0-9_]")
_TRANSACTIONS = re.compile(r"number of transactions actually processed: (\d+)")

# A Starlette app with nothing but the routes; `bodies.json` maps a path to a file to answer.
_BARE_APP = textwrap.dedent(
    """
    import json, os
    from pathlib import Path
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    folder = Path(os.environ["BARE_BODIES"])
    bodies = {
        path: (Path(f).read_bytes(), kind)
        for path, (f, kind) in json.loads((folder / "bodies.json").read_text()).items()
    }

    def route(path):
        body, kind = bodies[path]
        async def answer(request):
            return Response(body, media_type=kind)
        return Route(path, answer)

    app = Starlette(routes=[route(p) for p in bodies])
    """
)


async def captured_lists(name: str, paths: list[str]) -> dict[str, Any]:
    """Per path: the answer's bytes and the statements of its second request."""
    settings = bench_settings(name)
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    app = create_app(settings)
    found: dict[str, Any] = {}
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://x", headers=headers
        ) as c:
            docs = await c.get(TRIVIAL)
            found[TRIVIAL] = {"body": docs.content, "kind": docs.headers["content-type"]}
            for path in paths:
                (await c.get(path)).raise_for_status()
                with capture(app.state.engine) as captured:
                    answer = await c.get(path)
                answer.raise_for_status()
                found[path] = {
                    "body": answer.content,
                    "kind": answer.headers["content-type"],
                    "statements": captured.selects,
                }
    return found


def literal(value: Any) -> str:
    """A parameter written into SQL for pgbench (the bench's own captured values only)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        # No colons: pgbench reads ":name" as one of its variables, even inside a literal.
        return f"to_timestamp({value.timestamp()!r})"
    if isinstance(value, dt.date):
        return "'" + value.isoformat() + "'"
    return "'" + str(value).replace("'", "''") + "'"


def inline(sql: str, params: Any) -> str:
    values = tuple(params or ())
    # Highest numbers first, so $1 does not eat the start of $10.
    for number in range(len(values), 0, -1):
        sql = sql.replace(f"${number}", literal(values[number - 1]))
    # The same to_char pattern with its colons quoted as literal text (same output).
    sql = " ".join(sql.split()).replace("HH24:MI:SS", 'HH24":"MI":"SS')
    if _PGBENCH_VARIABLE.search(sql):
        raise SystemExit(f"pgbench would read a variable in: {sql[:300]}")
    return sql + ";"


def pgbench(name: str, statements: list[tuple[str, Any]], *, seconds: int) -> dict[str, Any]:
    binary = shutil.which("pgbench") or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))), None
    )
    if binary is None:
        raise SystemExit("pgbench is not installed (it comes with the PostgreSQL server package)")
    url = database_url(name).replace("postgresql+asyncpg://", "postgresql://")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write("\n".join(inline(sql, params) for sql, params in statements) + "\n")
    try:
        base = [binary, "-n", "-M", "prepared", "-c", "32", "-j", "2", "-f", script.name, url]
        warm = subprocess.run([*base, "-T", "2"], capture_output=True, text=True)  # noqa: S603
        if warm.returncode != 0:
            raise SystemExit(f"pgbench failed on {script.name}:\n{warm.stderr[-2000:]}")
        # pgbench's backends come and go with it, so PostgreSQL's CPU is the machine's busy
        # time less pgbench's own (a child of this process) over the run.
        busy, own = machine_busy_seconds(), children_cpu_seconds()
        out = subprocess.run(  # noqa: S603
            [*base, "-T", str(seconds)], capture_output=True, check=True, text=True
        ).stdout
        busy, own = machine_busy_seconds() - busy, children_cpu_seconds() - own
    finally:
        if not os.environ.get("LIST_CEILING_KEEP_SCRIPTS"):
            os.unlink(script.name)
    done = int(m.group(1)) if (m := _TRANSACTIONS.search(out)) else 0
    pg = busy - own
    return {
        "requests_per_s": float(m.group(1)) if (m := _TPS.search(out)) else 0.0,
        "served_ms_per_request": 0.0,
        "postgres_ms_per_request": round(pg * 1000.0 / max(done, 1), 3),
        "non_2xx": 0,
    }


def machine_busy_seconds() -> float:
    """CPU time spent by every core on anything but idle and I/O wait (`/proc/stat`)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bare_server(folder: Path, lists: dict[str, Any], port: int) -> subprocess.Popen[bytes]:
    bodies = {}
    for number, (path, found) in enumerate(lists.items()):
        file = folder / f"body{number}"
        file.write_bytes(found["body"])
        bodies[bare_path(path)] = (str(file), found["kind"])
    (folder / "bodies.json").write_text(json.dumps(bodies))
    (folder / "bare_app.py").write_text(_BARE_APP)
    command = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(folder), "--port", str(port),
        "--log-level", "warning", "--no-access-log", "bare_app:app",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(folder), "BARE_BODIES": str(folder)}
    return subprocess.Popen(command, cwd=folder, env=env)  # noqa: S603 - our own command line


def bare_path(path: str) -> str:
    """The bare app's route for a list path (no query string: it answers one body per route)."""
    return "/" + re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="ref")
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--path", action="append", default=[])
    args = parser.parse_args()
    paths = list(args.path or DEFAULT_PATHS)
    lists = asyncio.run(captured_lists(args.name, paths))
    token = bench_settings(args.name).api_token
    assert token is not None
    secret = token.get_secret_value()
    load = [round(os.getloadavg()[0], 2)]
    results: dict[str, dict[str, Any]] = {path: {} for path in lists}

    port = free_port()
    server = serve(args.name, port)
    try:
        wait_until_up(f"http://127.0.0.1:{port}")
        for path in lists:
            url = f"http://127.0.0.1:{port}{path}"
            results[path]["leadflow serve"] = measure(url, secret, server.pid, seconds=args.seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)

    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        server = bare_server(Path(folder), lists, port)
        try:
            wait_until_up_at(f"http://127.0.0.1:{port}{bare_path(TRIVIAL)}")
            for path in lists:
                url = f"http://127.0.0.1:{port}{bare_path(path)}"
                results[path]["bare server, same bytes"] = measure(
                    url, secret, server.pid, seconds=args.seconds
                )
        finally:
            server.terminate()
            server.wait(timeout=30)

    for path, found in lists.items():
        if path != TRIVIAL:
            results[path]["pgbench, same statements"] = pgbench(
                args.name, found["statements"], seconds=args.seconds
            )
    load.append(round(os.getloadavg()[0], 2))

    trivial = results[TRIVIAL]["leadflow serve"]["requests_per_s"]
    for by_kind in results.values():
        for figures in by_kind.values():
            figures["share_of_leadflow_docs"] = round(figures["requests_per_s"] / trivial, 3)
    report = {
        "load_1min": load,
        "bytes": {path: len(found["body"]) for path, found in lists.items()},
        "statements": {path: len(found.get("statements", ())) for path, found in lists.items()},
        "results": results,
    }
    print(json.dumps(report, indent=1))


def wait_until_up_at(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the bare server did not come up")


if __name__ == "__main__":
    main()
