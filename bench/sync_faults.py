"""Issue #3 benchmark (c): a full sync while the fake fails a share of calls transiently.

The fake answers `--fault-rate` of all API calls (each inner call of a batch on its own) with
429, 500 or 503 at random; the client retries with full-jitter backoff in real time (base 1 s,
cap 64 s, settings default attempts). Afterwards the stored gmail_message_ids are compared with
the fake's ids: count, set equality, duplicate rows. Targets: 100 % ingested, 0 duplicates.
A call that fails on every attempt fails the sync (nothing is skipped silently); with
`--syncs N` a failed sync is run again, as the scheduler would, and resumes where it stopped.
`--seeds 1,2,3` runs once per fault seed of the fake.

Usage: uv run python -m bench.sync_faults [--messages 2000] [--fault-rate 0.2] [--seeds 0]
       [--syncs 1] [--mode batch|single] [--batch-size 50] [--db postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import os

from bench.sync_common import SyncOptions, run_sync


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--seeds", default="0", help="the fake's fault seeds, one run each")
    parser.add_argument("--syncs", type=int, default=1, help="runs of a failed sync, at most")
    parser.add_argument("--mode", choices=("batch", "single"), default="batch")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    batch_size = 1 if args.mode == "single" else args.batch_size
    print(
        f"{args.messages} messages into {args.db}, {args.mode} (batch size {batch_size}), "
        f"fault rate {args.fault_rate:g}, load {os.getloadavg()[0]:.2f}"
    )
    for seed in (int(s) for s in args.seeds.split(",")):
        options = SyncOptions(
            messages=args.messages,
            batch_size=batch_size,
            db=args.db,
            fault_rate=args.fault_rate,
            verify=True,
            seed=seed,
            syncs=args.syncs,
        )
        figures = run_sync(options)
        fake, client, check = figures["fake"], figures["client"], figures["check"]
        calls = sum(fake["calls"].values()) - fake["calls"].get("token", 0)
        faults = sum(fake["faults_sent"].values())
        met = (
            check["sets_equal"]
            and check["stored_rows"] == check["fake_messages"]
            and check["duplicate_rows"] == 0
        )
        print(
            f"seed {seed}: {len(figures['syncs'])} sync(s): {'; '.join(figures['syncs'])}\n"
            f"  {figures['seconds']:.2f} s, {figures['per_second']:.1f} messages/s, "
            f"{figures['sync_errors']} sync errors\n"
            f"  fake: {calls} API calls answered, {faults} injected faults "
            f"({fake['faults_sent']}, {faults / max(calls, 1):.2%}); client: "
            f"{client['api_calls']} calls, {client['retries']} retries, "
            f"{client['failures']} final failures\n"
            f"  stored {check['stored_rows']} rows ({check['stored_distinct']} distinct) of "
            f"{check['fake_messages']} in the fake; missing {check['missing']}, unknown "
            f"{check['unknown']}, duplicate rows {check['duplicate_rows']}, sets equal "
            f"{check['sets_equal']}; leads {check['leads']} "
            f"({check['leads_distinct_messages']} distinct messages)\n"
            f"  targets (100 % ingested, 0 duplicates): {'met' if met else 'MISSED'}; "
            f"load {os.getloadavg()[0]:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
