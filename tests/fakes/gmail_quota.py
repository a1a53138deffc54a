"""The fake Gmail's per-user quota models and its concurrent-request cap.

Gmail documents its per-user limit as 15,000 units per minute and, in older documents, as
250 units per second "moving average"; how it counts inside that minute is not published.
The fake therefore offers two readings:

- `LenientQuota`: a token bucket of `rate` units/s holding `burst_seconds` of units (the
  fake's original model). Any traffic averaging the rate passes, bursts included.
- `SlidingWindowQuota`: at most `units` in any `window` seconds, each call counted at the
  instant it arrives (a batch's calls one by one, as they are reached). This is the strictest
  reading of "250 units per second": a batch of 50 gets (250 units) fills the window alone, so
  a client must not send anything else until that batch has left the window.

Both answer `charge(cost)` with None (accepted and charged) or the seconds until the call would
fit (refused; nothing charged). `ConcurrencyCap` answers 429 to a request arriving while
`limit` others of the same user are still being served, as Gmail does for "too many
concurrent requests for user".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.fakes.gmail_wire import error_body

# Comparisons tolerate float rounding: a client pacing to exactly the limit must get through.
EPSILON = 1e-6
CONCURRENT_MESSAGE = "Too many concurrent requests for user."


class QuotaMode(StrEnum):
    LENIENT = "lenient"
    STRICT = "strict"


class QuotaModel(Protocol):
    def charge(self, cost: float) -> float | None: ...


class LenientQuota:
    """A token bucket: `rate` units/s, at most `rate × burst_seconds` saved up."""

    def __init__(self, *, rate: float, burst_seconds: float, now: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = rate * burst_seconds
        self._now = now
        self._tokens = self.capacity
        self._updated = now()

    def charge(self, cost: float) -> float | None:
        now = self._now()
        elapsed = max(now - self._updated, 0.0)
        self._updated = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        if self._tokens < cost - EPSILON:
            return (cost - self._tokens) / self.rate
        self._tokens -= cost
        return None


class SlidingWindowQuota:
    """At most `units` charged in any `window` seconds, counted at arrival.

    A call arriving at t counts every charge made after t - window (a charge exactly one
    window old has left it). Refused calls are not charged.
    """

    def __init__(self, *, units: float, window: float, now: Callable[[], float]) -> None:
        self.units = units
        self.window = window
        self._now = now
        self._charges: deque[tuple[float, float]] = deque()  # (arrival, cost), oldest first
        self._total = 0.0

    def in_window(self) -> float:
        """Units charged within the window ending now."""
        self._expire(self._now())
        return self._total

    def charge(self, cost: float) -> float | None:
        now = self._now()
        self._expire(now)
        if self._total + cost <= self.units + EPSILON:
            self._charges.append((now, cost))
            self._total += cost
            return None
        return self._wait(now, cost)

    def _expire(self, now: float) -> None:
        while self._charges and self._charges[0][0] <= now - self.window:
            _, cost = self._charges.popleft()
            self._total -= cost
        if not self._charges:
            self._total = 0.0  # no float drift once the window is empty

    def _wait(self, now: float, cost: float) -> float:
        """Seconds until enough charges have left the window for `cost` to fit."""
        remaining = self._total
        for arrival, charged in self._charges:
            remaining -= charged
            if remaining + cost <= self.units + EPSILON:
                return arrival + self.window - now
        return self.window  # a cost above the whole window's units: never fits; say "later"


class ConcurrencyCap:
    """ASGI wrapper: a Gmail request arriving while `limit` are in progress answers 429."""

    def __init__(self, app: ASGIApp, *, limit: int, on_refuse: Callable[[], None]) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0
        self.most_in_flight = 0
        self._on_refuse = on_refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(("/gmail/", "/batch/")):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self._on_refuse()
            body = error_body(429, CONCURRENT_MESSAGE, "rateLimitExceeded")
            await JSONResponse(body, 429)(scope, receive, send)
            return
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
