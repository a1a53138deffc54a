"""The cache's clock: wall-clock seconds, so every process reads an expiry alike."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (tests pass a fake that they advance by hand)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()
