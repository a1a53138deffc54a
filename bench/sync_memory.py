"""Benchmarks for the sync's memory: peak RSS of the sync process.

(d) issue #3: one full sync of `--messages` small messages. Target ≤ 300 MB for 100,000.
(e) issue #7: large messages, `--large 20 --large-mb 25` (each a short text plus one
    attachment of random bytes, 25 MB raw). Target ≤ 400 MB for twenty 25 MB messages.

The fake runs in its own process (not counted); the sync runs in a fresh Python process that
reports its own peak RSS (`resource.getrusage(RUSAGE_SELF).ru_maxrss`). Batch mode, quota and
faults off.

Usage: uv run python -m bench.sync_memory [--messages 100000] [--large 0 --large-mb 25]
       [--batch-size 50] [--fetch-bytes N] [--db postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import os
import time

from bench.sync_common import SyncOptions, run_sync

TARGET_MB = 300
TARGET_LARGE_MB = 400


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=0, help="large messages besides")
    parser.add_argument("--large-mb", type=float, default=25.0, help="raw size of each, MB")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--fetch-bytes", type=int, default=None, help="LEADFLOW_SYNC_FETCH_BYTES")
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    target = TARGET_LARGE_MB if args.large else TARGET_MB
    print(
        f"{args.messages} messages and {args.large} of {args.large_mb:g} MB into {args.db}, "
        f"batch size {args.batch_size}, fetch bytes {args.fetch_bytes or 'default'}, "
        f"load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    started = time.perf_counter()
    figures = run_sync(
        SyncOptions(
            messages=args.messages,
            batch_size=args.batch_size,
            db=args.db,
            verify=True,
            large=args.large,
            large_mb=args.large_mb,
            fetch_bytes=args.fetch_bytes,
        )
    )
    wall = time.perf_counter() - started
    check = figures["check"]
    rss = figures["peak_rss_mb"]
    print(
        f"stored {check['stored_rows']} of {check['fake_messages']} (sets equal "
        f"{check['sets_equal']}, duplicate rows {check['duplicate_rows']}), "
        f"{figures['sync_errors']} sync errors\n"
        f"sync {figures['seconds']:.1f} s ({figures['per_second']:.1f} messages/s, "
        f"{figures['cpu_ms_per_message']:.3f} ms CPU/msg); wall time with fake start-up and "
        f"database set-up {wall:.1f} s\n"
        f"peak RSS of the sync process {rss:.1f} MB; target ≤ {target} MB: "
        f"{'met' if rss <= target else 'MISSED'}; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
