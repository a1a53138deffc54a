"""Issue #3 benchmark (a): end-to-end full-sync throughput from the Gmail fake, no quota or faults.

For each mode (single `messages.get` calls, or HTTP batches of `--batch-size`) and each run, one
full sync of a `--messages` mailbox from the fake (another process, over TCP) into a scratch
database, in a fresh Python process (see bench/sync_common.py). Prints every run, the median
messages/s per mode and the batch/single ratio of the medians. Target: ≥ 1,000 messages/s.

Usage: uv run python -m bench.sync_throughput [--messages 10000] [--runs 3]
       [--modes single,batch] [--batch-size 50] [--db postgresql|sqlite] [--no-processors]
       [--pg-setting plan_cache_mode=force_custom_plan]  (a diagnosis aid, repeatable)
"""

from __future__ import annotations

import argparse
import os
import statistics

from bench.sync_common import SyncOptions, run_sync

TARGET_PER_SECOND = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="single,batch", help="single, batch or both")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--no-processors", action="store_true", help="skip leads + matching")
    parser.add_argument(
        "--pg-setting", action="append", default=[], help="name=value on the scratch database"
    )
    args = parser.parse_args()
    print(
        f"{args.messages} messages into {args.db}, {args.runs} runs per mode, "
        f"processors {'off' if args.no_processors else 'on'}, load {os.getloadavg()[0]:.2f}"
    )
    medians: dict[str, float] = {}
    for mode in args.modes.split(","):
        batch_size = 1 if mode == "single" else args.batch_size
        options = SyncOptions(
            messages=args.messages,
            batch_size=batch_size,
            db=args.db,
            processors=not args.no_processors,
            pg_settings=tuple(args.pg_setting),
        )
        rates = []
        for number in range(1, args.runs + 1):
            figures = run_sync(options)
            if figures["messages"] != args.messages or figures["sync_errors"]:
                raise RuntimeError(f"sync incomplete: {figures}")
            rates.append(figures["per_second"])
            print(
                f"  {mode:6} run {number}: {figures['per_second']:7.1f} messages/s "
                f"({figures['seconds']:.2f} s, {figures['cpu_ms_per_message']:.3f} ms CPU/msg, "
                f"{figures['client']['api_calls']} calls, "
                f"{figures['fake']['batch_requests']} batch requests, "
                f"peak RSS {figures['peak_rss_mb']:.1f} MB, load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
        medians[mode] = statistics.median(rates)
        met = "met" if medians[mode] >= TARGET_PER_SECOND else "MISSED"
        print(
            f"{mode} (batch size {batch_size}): median {medians[mode]:.1f} messages/s "
            f"(runs {', '.join(f'{r:.1f}' for r in rates)}); target ≥ {TARGET_PER_SECOND}: {met}"
        )
    if "single" in medians and "batch" in medians:
        print(f"batch / single: {medians['batch'] / medians['single']:.3f}×")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
