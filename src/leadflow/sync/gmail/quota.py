"""Gmail quota units per call, and the clock that pacing and backoff wait on."""

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
