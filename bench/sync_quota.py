"""Issues #3 (b) and #8 item 6: a full sync against the fake's quota model at Gmail's rate.

The fake charges every call (each inner call of a batch too) against `--quota` units/s per user
and answers 429 when over. Two accountings (`--quota-mode`):

- lenient: a token bucket with 1 s of burst (any traffic averaging the rate passes);
- strict: at most `--quota` units in any 1 s sliding window, each call counted on arrival.

The client paces with its settings defaults (adaptive rate, ceiling 250 units/s). Reported
per run, then the medians: API calls at the fake (inner calls of batches counted one by one),
calls answered 429, the share of the unit budget used (units charged by the fake / (rate ×
seconds of the whole sync, from before getProfile to the last commit); for lenient also
without the bucket's 1 s burst; and over the fake's charging window, first to last charged
call), messages/s. Targets: strict ≤ 2 % of calls answered 429 and
≥ 85 % of the budget; lenient ≥ 95 % of the budget.

Usage: uv run python -m bench.sync_quota [--messages 2400] [--runs 3] [--quota-mode strict]
       [--batch-size 50] [--quota 250] [--client-rate 250] [--db postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import os
import statistics
from typing import Any

from bench.sync_common import SyncOptions, run_sync

TARGET_STRICT_THROTTLED = 0.02
TARGET_STRICT_SHARE = 0.85
TARGET_LENIENT_SHARE = 0.95


def figures_of(run: dict[str, Any], quota: float, mode: str) -> dict[str, float]:
    """The benchmark's figures for one sync."""
    fake, client = run["fake"], run["client"]
    calls = sum(n for method, n in fake["calls"].items() if method != "token")
    seconds = run["seconds"]
    figures = {
        "messages": run["messages"],
        "seconds": seconds,
        "calls": calls,
        "throttled": fake["throttled"],
        "throttled_share": fake["throttled"] / calls if calls else 0.0,
        "budget_share": fake["units_charged"] / (quota * seconds),
        # The same over the fake's charging window (first to last charged call): the pacing
        # alone, without the sync's own start and finish.
        "window_share": fake["units_charged"] / (quota * fake["charge_window"]),
        "per_second": run["per_second"],
        "retries": client["retries"],
        "batch_requests": fake["batch_requests"],
    }
    if mode == "lenient":
        # The fake's bucket starts full: 1 s of burst is budget on top of rate × elapsed.
        figures["budget_share_no_burst"] = (fake["units_charged"] - quota) / (quota * seconds)
    return figures


def met(figures: dict[str, float], mode: str) -> bool:
    if mode == "strict":
        return (
            figures["throttled_share"] <= TARGET_STRICT_THROTTLED
            and figures["budget_share"] >= TARGET_STRICT_SHARE
        )
    return figures["budget_share"] >= TARGET_LENIENT_SHARE


def line(label: str, figures: dict[str, float]) -> str:
    text = (
        f"{label}: {figures['messages']:.0f} messages in {figures['seconds']:.2f} s, "
        f"{figures['per_second']:.1f} messages/s; {figures['calls']:.0f} calls "
        f"({figures['batch_requests']:.0f} batch requests), {figures['throttled']:.0f} answered "
        f"429 ({figures['throttled_share']:.2%}); budget used {figures['budget_share']:.2%}"
    )
    if "budget_share_no_burst" in figures:
        text += f" ({figures['budget_share_no_burst']:.2%} without the 1 s burst)"
    text += f"; over the fake's charging window {figures['window_share']:.2%}"
    return text + f"; client retries {figures['retries']:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2400)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--quota", type=float, default=250.0, help="the fake's units/s")
    parser.add_argument("--quota-mode", choices=("lenient", "strict"), default="strict")
    parser.add_argument(
        "--client-rate", type=float, default=None, help="client ceiling units/s (settings)"
    )
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    mode = args.quota_mode
    print(
        f"{args.messages} messages into {args.db}, batch size {args.batch_size}, fake quota "
        f"{args.quota:g} units/s ({mode}), client rate "
        f"{args.client_rate or 'settings default'}, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    options = SyncOptions(
        messages=args.messages,
        batch_size=args.batch_size,
        db=args.db,
        quota=args.quota,
        quota_mode=mode,
        client_rate=args.client_rate,
    )
    runs: list[dict[str, float]] = []
    for number in range(1, args.runs + 1):
        run = run_sync(options)
        if run["status"] != "completed":
            print(f"run {number}: sync {run['status']}: {run['error']}", flush=True)
        runs.append(figures_of(run, args.quota, mode))
        print(line(f"run {number}", runs[-1]) + f"; load {os.getloadavg()[0]:.2f}", flush=True)
    medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    targets = (
        f"≤ {TARGET_STRICT_THROTTLED:.0%} answered 429, ≥ {TARGET_STRICT_SHARE:.0%} of the budget"
        if mode == "strict"
        else f"≥ {TARGET_LENIENT_SHARE:.0%} of the budget"
    )
    verdict = "met" if met(medians, mode) else "MISSED"
    print(line(f"median of {len(runs)}", medians), flush=True)
    print(f"targets ({mode}: {targets}): {verdict}", flush=True)


if __name__ == "__main__":
    main()
