"""Adaptive pacing of Gmail quota units: an AIMD rate, even spacing, a sliding-window ledger.

Gmail limits each user to 15,000 units per minute (older documents: 250 per second, moving
average) and does not say how it counts within that; the strictest reading is a 1 s sliding
window of 250 units counted when a call arrives, batch calls one by one. `QuotaPacer` sends
so that no such window can ever exceed the current rate, whatever the network does:

- every call's units stay in the ledger while it is in flight and for one window after its
  answer (Gmail counted them at some moment in between; we cannot know when);
- calls are spaced evenly, `cost / rate` apart, instead of leaving as one burst the moment
  the budget allows, and a batch is split so that one request costs at most `burst_seconds`
  of the rate (`calls_per_request`);
- the rate itself (`AimdRate`) is cut multiplicatively when Gmail throttles anyway (another
  client spending the same user's quota, a stricter accounting than ours) and creeps back
  up additively, between a floor and the configured ceiling; a "Retry after" from Gmail holds
  every new call until then.

All waiting happens on the injected `Clock`, so tests run it in virtual time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from leadflow.sync.gmail.quota import Clock

log = logging.getLogger(__name__)

# Float rounding must not make a call that fits exactly wait another round.
_EPSILON = 1e-9
# Waits are at least this long, so that time always moves on; and a call's units leave the
# ledger this much after their window, so that rounding (0.2 + 1.0 is not 1.2 - 1.0 + 1.0)
# never lets the next call leave a hair before Gmail's window has let them go.
_MIN_SLEEP = 1e-6


class AimdRate:
    """Units per second allowed now: ×`decrease` on throttling, +`increase` per second after.

    Only one cut per throttling episode: a call sent before the latest cut was sent at the old
    rate, and its 429 says nothing about the new one (as TCP cuts once per window of data).
    """

    def __init__(
        self,
        *,
        ceiling: float,
        floor: float,
        clock: Clock,
        decrease: float = 0.7,
        increase_per_second: float | None = None,
    ) -> None:
        if not 0 < floor <= ceiling:
            raise ValueError("the rate floor must be positive and not above the ceiling")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        self.ceiling = ceiling
        self.floor = floor
        self.decrease = decrease
        # Back from a single cut to the ceiling in twelve seconds by default: slow enough that a
        # quota shared with another client is overrun once every several seconds, not every
        # second or two (measured against the fake; docs/benchmarks.md).
        self.increase = increase_per_second if increase_per_second is not None else ceiling / 40
        self._clock = clock
        self._base = ceiling
        self._since = clock.now()
        self._last_cut = float("-inf")
        self.cuts = 0

    @property
    def value(self) -> float:
        """The rate now: the last cut plus the creep since, never above the ceiling."""
        elapsed = max(self._clock.now() - self._since, 0.0)
        return min(self.ceiling, self._base + self.increase * elapsed)

    def throttled(self, sent_at: float) -> bool:
        """Gmail throttled a call sent at `sent_at`; cut the rate unless already cut since."""
        if sent_at <= self._last_cut:
            return False
        now = self._clock.now()
        self._base = max(self.floor, self.value * self.decrease)
        self._since = now
        self._last_cut = now
        self.cuts += 1
        return True


@dataclass(eq=False, slots=True)
class Ticket:
    """One request's units in the ledger: sent at `sent_at`, answered at `answered_at`."""

    cost: float
    sent_at: float
    answered_at: float | None = None


class QuotaPacer:
    """Decides when a request of `cost` units may be sent (see the module docstring).

    `acquire` waits in arrival order (FIFO lock), records the request as sent now and returns
    its ticket; the caller sends at once and calls `answered` when the answer (or an error) is
    back, and `throttled` when Gmail refused it for quota.
    """

    def __init__(
        self,
        *,
        rate: AimdRate,
        clock: Clock,
        window: float = 1.0,
        burst_seconds: float = 0.2,
    ) -> None:
        if window <= 0 or not 0 < burst_seconds <= window:
            raise ValueError("window must be positive and burst_seconds within it")
        self.rate = rate
        self.window = window
        self.burst_seconds = burst_seconds
        self._clock = clock
        self._ledger: deque[Ticket] = deque()  # in order of sending
        self._last: Ticket | None = None
        self._hold_until = float("-inf")
        self._lock = asyncio.Lock()
        self._answer = asyncio.Event()

    def calls_per_request(self, cost_each: float) -> int:
        """How many calls of `cost_each` one request may carry: `burst_seconds` of the rate."""
        return max(1, int(self.rate.value * self.burst_seconds / cost_each + _EPSILON))

    def counted(self) -> float:
        """Units that could still be in Gmail's window: in flight, or answered < window ago."""
        now = self._clock.now()
        self._expire(now)
        return sum(ticket.cost for ticket in self._ledger)

    async def acquire(self, cost: float) -> Ticket:
        """Wait until `cost` units may be sent, then record them as sent now."""
        async with self._lock:
            while True:
                wait = self._wait(cost)
                if wait is None:  # only an answer to a call in flight can make room
                    self._answer.clear()
                    await self._answer.wait()
                elif wait > 0:
                    await self._clock.sleep(max(wait, _MIN_SLEEP))
                else:
                    break
            ticket = Ticket(cost, self._clock.now())
            self._ledger.append(ticket)
            self._last = ticket
            return ticket

    def answered(self, ticket: Ticket) -> None:
        """The request's answer (or its failure) is back; its units leave one window later."""
        if ticket.answered_at is None:
            ticket.answered_at = self._clock.now()
            self._answer.set()

    def throttled(self, ticket: Ticket, retry_after: float | None) -> None:
        """Gmail refused (part of) the request for quota: cut the rate, honour Retry after."""
        if self.rate.throttled(ticket.sent_at):
            log.info("gmail throttled a call; pacing cut to %.0f units/s", self.rate.value)
        if retry_after is not None and retry_after > 0:
            self._hold_until = max(self._hold_until, self._clock.now() + retry_after)

    def _wait(self, cost: float) -> float | None:
        """Seconds until `cost` may be sent (0: now), or None to wait for an answer."""
        now = self._clock.now()
        rate = self.rate.value
        waits = [self._hold_until - now]
        if self._last is not None:
            waits.append(self._last.sent_at + self._last.cost / rate - now)
        room = self._room_wait(cost, rate * self.window, now)
        if room is None:
            return None
        waits.append(room)
        return max(waits)

    def _room_wait(self, cost: float, budget: float, now: float) -> float | None:
        """Seconds until the ledger has room for `cost` within `budget`, None if an in-flight
        request must be answered first. A cost above the whole budget waits for an empty
        ledger (it could never fit otherwise)."""
        self._expire(now)
        counted = sum(ticket.cost for ticket in self._ledger)
        excess = counted + min(cost, budget) - budget
        if excess <= _EPSILON:
            return 0.0
        # Answered tickets leave one window after their answers; in-flight ones at unknown times.
        leaving = sorted(
            (ticket.answered_at + self.window + _MIN_SLEEP, ticket.cost)
            for ticket in self._ledger
            if ticket.answered_at is not None
        )
        freed = 0.0
        for leaves, ticket_cost in leaving:
            freed += ticket_cost
            if freed >= excess - _EPSILON:
                return leaves - now
        return None

    def _expire(self, now: float) -> None:
        """Drop answered tickets whose window has passed (in-flight ones always stay)."""
        self._ledger = deque(
            ticket
            for ticket in self._ledger
            if ticket.answered_at is None or ticket.answered_at + self.window + _MIN_SLEEP > now
        )
