"""A virtual clock for time logic in tests: sleeping advances time instantly and is recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FakeClock:
    """Implements leadflow's `Clock`; `wall()` is the matching UTC datetime (starts at EPOCH)."""

    def __init__(self, start: float = 0.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def wall(self) -> datetime:
        return EPOCH + timedelta(seconds=self.time)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += max(seconds, 0.0)
        # Let other tasks run, as a real sleep would.
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.time += seconds
