"""The circuit breaker: opens after consecutive failures, half-open while probing, closes itself."""

from __future__ import annotations

import pytest

from leadflow.cache.breaker import CircuitBreaker, CircuitState
from tests.fakes.clock import FakeClock


def test_it_opens_after_the_threshold_of_consecutive_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=3, clock=FakeClock())
    assert breaker.record_failure() is False
    breaker.record_success()  # a success in between starts the count again
    assert breaker.record_failure() is False
    assert breaker.record_failure() is False
    assert breaker.closed
    assert breaker.record_failure() is True
    assert breaker.state is CircuitState.OPEN
    assert breaker.record_failure() is False  # already open
    assert breaker.opened_total == 1


def test_it_tracks_time_in_state_and_time_unavailable() -> None:
    clock = FakeClock(start=100.0)
    breaker = CircuitBreaker(failure_threshold=1, clock=clock)
    clock.advance(5)
    assert breaker.seconds_in_state() == 5
    assert breaker.seconds_unavailable() == 0
    breaker.record_failure()
    clock.advance(2)
    breaker.begin_probe()
    assert breaker.state is CircuitState.HALF_OPEN
    clock.advance(1)
    breaker.probe_failed()
    assert breaker.state is CircuitState.OPEN
    assert breaker.seconds_in_state() == 0
    assert breaker.seconds_unavailable() == 3
    assert breaker.opened_total == 1  # a failed probe is not a new opening
    breaker.begin_probe()
    breaker.close()
    assert breaker.closed
    assert breaker.seconds_unavailable() == 0
    assert breaker.consecutive_failures == 0


def test_trip_opens_at_once_and_says_whether_it_changed_anything() -> None:
    breaker = CircuitBreaker(failure_threshold=5, clock=FakeClock())
    assert breaker.trip() is True
    assert breaker.trip() is False
    assert breaker.opened_total == 1


def test_a_threshold_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CircuitBreaker(failure_threshold=0, clock=FakeClock())
