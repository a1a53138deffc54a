"""Issue #3 benchmark (d): peak RSS of the sync process for a large mailbox.

One full sync of `--messages` from the fake (its own process, not counted) into a scratch
database, batch mode, quota and faults off; the sync process reports its own peak RSS
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`). Target: ≤ 300 MB for 100,000 messages.

Usage: uv run python -m bench.sync_memory [--messages 100000] [--batch-size 50]
       [--db postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import os
import time

from bench.sync_common import SyncOptions, run_sync

TARGET_MB = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    print(
        f"{args.messages} messages into {args.db}, batch size {args.batch_size}, "
        f"load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    started = time.perf_counter()
    figures = run_sync(
        SyncOptions(messages=args.messages, batch_size=args.batch_size, db=args.db, verify=True)
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
        f"peak RSS of the sync process {rss:.1f} MB; target ≤ {TARGET_MB} MB: "
        f"{'met' if rss <= TARGET_MB else 'MISSED'}; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
