"""Issue #3 benchmark (b): a full sync against the fake's quota model at Gmail's per-user rate.

The fake charges every call (each inner call of a batch too) against a token bucket of
`--quota` units/s with 1 s of burst and answers 429 when it is empty; the client paces with
its own bucket at the settings default (250 units/s, 1 s of burst). Reported per run: the
share of the unit budget used, units charged by the fake / (rate × elapsed seconds of the
whole sync), also over the fake's charging window (first to last charged call), and the 429s,
in total and after the first second (counted from the fake's first charged call).
Targets: share ≥ 90 %, no 429 after the first second.

Usage: uv run python -m bench.sync_quota [--messages 2000] [--runs 1] [--batch-size 50]
       [--quota 250] [--client-rate 250] [--db postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import os

from bench.sync_common import SyncOptions, run_sync

TARGET_SHARE = 0.90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--quota", type=float, default=250.0, help="the fake's units/s")
    parser.add_argument(
        "--client-rate", type=float, default=None, help="client units/s (settings default)"
    )
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    print(
        f"{args.messages} messages into {args.db}, batch size {args.batch_size}, fake quota "
        f"{args.quota} units/s, client rate {args.client_rate or 'settings default'}, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    options = SyncOptions(
        messages=args.messages,
        batch_size=args.batch_size,
        db=args.db,
        quota=args.quota,
        client_rate=args.client_rate,
    )
    for number in range(1, args.runs + 1):
        figures = run_sync(options)
        fake, client = figures["fake"], figures["client"]
        share = fake["units_charged"] / (args.quota * figures["seconds"])
        window = fake["charge_window"]
        window_share = fake["units_charged"] / (args.quota * window) if window else 0.0
        # Both buckets start full: 1 s of burst is budget on top of rate × elapsed.
        steady = (fake["units_charged"] - args.quota) / (args.quota * figures["seconds"])
        late = [t for t in fake["throttle_times"] if t > 1.0]
        met = share >= TARGET_SHARE and not late
        print(
            f"run {number}: {figures['messages']} messages stored of {args.messages}, "
            f"{figures['sync_errors']} errors, {figures['seconds']:.2f} s, "
            f"{figures['per_second']:.1f} messages/s\n"
            f"  units charged by the fake {fake['units_charged']} (client spent "
            f"{client['units_used']}, incl. refused calls); budget used {share:.2%} of "
            f"{args.quota:g} × {figures['seconds']:.2f} s; over the fake's charging window "
            f"({window:.2f} s) {window_share:.2%}; without the 1 s burst {steady:.2%}\n"
            f"  429s: {fake['throttled']} total, {len(late)} after the first second "
            f"(at {', '.join(f'{t:.2f}' for t in late[:20]) or '-'} s); client retries "
            f"{client['retries']}, client saw {client['throttled']} throttled\n"
            f"  targets (≥ {TARGET_SHARE:.0%}, 0 late 429s): {'met' if met else 'MISSED'}; "
            f"load {os.getloadavg()[0]:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
