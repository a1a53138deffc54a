"""A token bucket over Gmail quota units, driven by an injectable clock."""

from __future__ import annotations

import asyncio
import time
from typing import Final, Protocol

# Quota units per call (Gmail API v1 usage limits).
COST_GET_PROFILE: Final = 1
COST_LABELS_LIST: Final = 1
COST_HISTORY_LIST: Final = 2
COST_MESSAGES_LIST: Final = 5
COST_MESSAGES_GET: Final = 5
COST_ATTACHMENTS_GET: Final = 5
COST_THREADS_LIST: Final = 10
COST_THREADS_GET: Final = 10


class Clock(Protocol):
    """Monotonic time and sleeping; tests pass a fake that advances virtual time."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: time.monotonic and asyncio.sleep."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class TokenBucket:
    """Refills `rate` units per second up to `capacity`; `acquire` waits until the cost fits.

    Waiters are served in arrival order (the lock is FIFO), so one expensive call cannot be
    starved by a stream of cheap ones. In any window of W seconds at most capacity + rate·W
    units are handed out.
    """

    def __init__(self, *, rate: float, capacity: float, clock: Clock) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._updated = clock.now()
        self._lock = asyncio.Lock()

    @property
    def available(self) -> float:
        """Units that could be spent right now."""
        self._refill()
        return self._tokens

    async def acquire(self, cost: float) -> None:
        """Wait until `cost` units are available, then spend them."""
        # A cost above capacity could never fit; let it through once the bucket is full instead.
        needed = min(cost, self.capacity)
        async with self._lock:
            self._refill()
            while self._tokens < needed - 1e-9:
                await self._clock.sleep((needed - self._tokens) / self.rate)
                self._refill()
            self._tokens -= cost

    def _refill(self) -> None:
        now = self._clock.now()
        elapsed = max(now - self._updated, 0.0)
        self._updated = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
