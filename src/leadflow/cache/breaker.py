"""The circuit breaker in front of Redis: closed → open after consecutive failures → half-open
while a probe runs → closed again when the probe succeeds.

While the circuit is open no request touches Redis (none waits for a timeout); the cache's
supervisor probes Redis every `probe_interval` seconds and closes the circuit itself. The breaker
only keeps the state; who probes and when lives in `supervisor.py`.
"""

from __future__ import annotations

from enum import StrEnum

from leadflow.cache.clock import Clock


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, *, failure_threshold: int, clock: Clock) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self._clock = clock
        self.state = CircuitState.CLOSED
        self.since = clock.now()
        self.consecutive_failures = 0
        self.opened_total = 0
        self.opened_at: float | None = None  # when it last left CLOSED (None while closed)

    @property
    def closed(self) -> bool:
        return self.state is CircuitState.CLOSED

    def seconds_in_state(self) -> float:
        return max(self._clock.now() - self.since, 0.0)

    def seconds_unavailable(self) -> float:
        """How long Redis has been out of use (probes included); 0 while closed."""
        return 0.0 if self.opened_at is None else max(self._clock.now() - self.opened_at, 0.0)

    def record_success(self) -> None:
        if self.state is CircuitState.CLOSED:
            self.consecutive_failures = 0

    def record_failure(self) -> bool:
        """Count a failed operation; True when this one opened the circuit."""
        self.consecutive_failures += 1
        if (
            self.state is CircuitState.CLOSED
            and self.consecutive_failures >= self.failure_threshold
        ):
            self._move(CircuitState.OPEN)
            return True
        return False

    def trip(self) -> bool:
        """Open at once (e.g. an invalidation did not reach Redis); True if it was not open."""
        if self.state is CircuitState.OPEN:
            return False
        self._move(CircuitState.OPEN)
        return True

    def begin_probe(self) -> None:
        if self.state is CircuitState.OPEN:
            self._move(CircuitState.HALF_OPEN)

    def probe_failed(self) -> None:
        if self.state is CircuitState.HALF_OPEN:
            self._move(CircuitState.OPEN)

    def close(self) -> None:
        self.consecutive_failures = 0
        if self.state is not CircuitState.CLOSED:
            self._move(CircuitState.CLOSED)

    def _move(self, state: CircuitState) -> None:
        now = self._clock.now()
        if self.state is CircuitState.CLOSED and state is CircuitState.OPEN:
            self.opened_total += 1
            self.opened_at = now
        elif state is CircuitState.CLOSED:
            self.opened_at = None
        self.state = state
        self.since = now
