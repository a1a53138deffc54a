"""Issue #10 (b): CPU per request of the served process and of PostgreSQL, uncached.

    uv run python -m bench.api_cpu [--name ref] [--seconds 6] [--rounds 3]
        [--checkout DIR ...] [--path /api/leads ...]

Serves `leadflow_bench_<name>` as `bench.api_load` does (one worker, cache off) and runs wrk
(2 threads, 32 connections, a 2-second warm-up, then `--seconds`) against each path. Around
the measured run it reads the CPU time (user + system, `/proc/<pid>/stat`) of the served process
and of every PostgreSQL process, and divides each by the requests wrk counted.

With several `--checkout` directories (other clones of this repository, e.g. an older commit),
each round serves every checkout's code in turn, alternating, so that the comparison of two
versions is not a comparison of two moments of a drifting VM. Prints one JSON object: per
checkout and path, each round's req/s and ms/request, and their medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.api_load import TRIVIAL, free_port, serve, targets, wait_until_up

_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_REQUESTS = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_TICKS = os.sysconf("SC_CLK_TCK")

DEFAULT_PATHS = (
    TRIVIAL,
    "/api/customers?offset=50",
    "/api/leads?offset=50",
    "/api/threads?offset=50",
    "/api/leads?status=new",
    "/api/customers/{customer}/threads",
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / _TICKS


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def postgres_cpu() -> dict[int, float]:
    return {pid: cpu_seconds(pid) for pid in postgres_pids()}


def measure(url: str, token: str, server: int, *, seconds: int) -> dict[str, Any]:
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    base = [wrk_path, "-t2", "-c32", "-H", f"Authorization: Bearer {token}"]
    subprocess.run([*base, "-d2s", url], capture_output=True, check=True)  # noqa: S603
    served_before, pg_before = cpu_seconds(server), postgres_cpu()
    out = subprocess.run(  # noqa: S603
        [*base, f"-d{seconds}s", url], capture_output=True, check=True, text=True
    ).stdout
    served_after, pg_after = cpu_seconds(server), postgres_cpu()
    requests = int(m.group(1)) if (m := _REQUESTS.search(out)) else 0
    errors = int(m.group(1)) if (m := _ERRORS.search(out)) else 0
    pg = sum(pg_after[pid] - pg_before.get(pid, 0.0) for pid in pg_after)
    per = 1000.0 / max(requests, 1)
    return {
        "requests_per_s": float(m.group(1)) if (m := _RATE.search(out)) else 0.0,
        "served_ms_per_request": round((served_after - served_before) * per, 3),
        "postgres_ms_per_request": round(pg * per, 3),
        "non_2xx": errors,
    }


def serve_from(checkout: Path | None, name: str, port: int) -> subprocess.Popen[bytes]:
    if checkout is None:
        return serve(name, port)
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(checkout / "src")
    try:
        return serve(name, port)
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="ref")
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkout", action="append", type=Path, default=[])
    parser.add_argument("--path", action="append", default=[])
    args = parser.parse_args()
    from bench.db_reference import bench_settings

    ids = asyncio.run(targets(args.name))
    customer = ids["GET /api/customers/{id}"].rsplit("/", 1)[1]
    paths = [p.format(customer=customer) for p in (args.path or DEFAULT_PATHS)]
    token = bench_settings(args.name).api_token
    assert token is not None
    checkouts: list[Path | None] = list(args.checkout) or [None]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    load = [round(os.getloadavg()[0], 2)]
    for _ in range(args.rounds):
        for checkout in checkouts:
            label = str(checkout or "this checkout")
            port = free_port()
            server = serve_from(checkout, args.name, port)
            try:
                wait_until_up(f"http://127.0.0.1:{port}")
                for path in paths:
                    figures = measure(
                        f"http://127.0.0.1:{port}{path}",
                        token.get_secret_value(),
                        server.pid,
                        seconds=args.seconds,
                    )
                    runs.setdefault(label, {}).setdefault(path, []).append(figures)
            finally:
                server.terminate()
                server.wait(timeout=30)
            time.sleep(1)
    load.append(round(os.getloadavg()[0], 2))
    summary: dict[str, Any] = {}
    for label, by_path in runs.items():
        summary[label] = {}
        for path, rounds in by_path.items():
            summary[label][path] = {
                key: statistics.median(r[key] for r in rounds)
                for key in ("requests_per_s", "served_ms_per_request", "postgres_ms_per_request")
            } | {"rounds": rounds}
    print(json.dumps({"load_1min": load, "medians": summary}, indent=1), file=sys.stdout)


if __name__ == "__main__":
    main()
