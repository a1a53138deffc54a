"""The adaptive pacing on its own, in virtual time: the AIMD rate and the quota pacer.

The pacer's promise is checked against the fake's strict accounting itself: whatever the
latencies, and wherever in its flight Gmail counts a call, no 1 s window exceeds the budget.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.sync.gmail.pacing import AimdRate, QuotaPacer, Ticket
from tests.fakes.clock import FakeClock
from tests.fakes.gmail_quota import SlidingWindowQuota

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
CEILING = 250.0
FLOOR = 25.0


class SimClock:
    """Virtual time for one pacer: a sleep jumps ahead, running what falls due on the way."""

    def __init__(self) -> None:
        self.time = 0.0
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.run_until(self.time + max(seconds, 0.0))
        await asyncio.sleep(0)

    def at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._due, (when, next(self._order), callback))

    def run_until(self, until: float) -> None:
        while self._due and self._due[0][0] <= until:
            self.run_next()
        self.time = max(self.time, until)

    def run_next(self) -> bool:
        if not self._due:
            return False
        when, _, callback = heapq.heappop(self._due)
        self.time = max(self.time, when)
        callback()
        return True


async def send_all(
    pacer: QuotaPacer, clock: SimClock, requests: list[tuple[float, float]]
) -> list[Ticket]:
    """Acquire for each (cost, latency) in turn; each answer comes `latency` after sending."""
    tickets: list[Ticket] = []
    for cost, latency in requests:
        task = asyncio.ensure_future(pacer.acquire(cost))
        while not task.done():
            for _ in range(20):
                await asyncio.sleep(0)
                if task.done():
                    break
            else:
                # The pacer waits for a call in flight to be answered: deliver the next answer.
                assert clock.run_next(), "the pacer waits for an answer that will never come"
        ticket = task.result()
        clock.at(ticket.sent_at + latency, lambda ticket=ticket: pacer.answered(ticket))
        tickets.append(ticket)
    while clock.run_next():  # deliver the answers still in flight
        pass
    return tickets


def make_pacer(clock: SimClock | FakeClock, **rate_options: float) -> QuotaPacer:
    rate = AimdRate(ceiling=CEILING, floor=FLOOR, clock=clock, **rate_options)
    return QuotaPacer(rate=rate, clock=clock)


# --- AimdRate --------------------------------------------------------------------------------

events = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.floats(0.0, 10.0)),
        st.tuples(st.just("throttle"), st.floats(-3.0, 0.0)),  # sent that long before now
    ),
    max_size=60,
)


@PROPERTY_SETTINGS
@given(events=events, decrease=st.floats(0.1, 0.9), increase=st.floats(0.1, 100.0))
def test_the_rate_is_cut_on_throttling_and_creeps_back_within_floor_and_ceiling(
    events: list[tuple[str, float]], decrease: float, increase: float
) -> None:
    clock = FakeClock()
    rate = AimdRate(
        ceiling=CEILING,
        floor=FLOOR,
        clock=clock,
        decrease=decrease,
        increase_per_second=increase,
    )
    last_cut = -math.inf
    for kind, amount in events:
        before = rate.value
        if kind == "wait":
            clock.advance(amount)
            assert rate.value == pytest.approx(min(CEILING, before + increase * amount))
        else:
            sent_at = clock.now() + amount
            cut = rate.throttled(sent_at)
            if sent_at <= last_cut:
                # Sent before the last cut, at the old rate: no second cut for one episode.
                assert not cut
                assert rate.value == before
            else:
                assert cut
                assert rate.value == pytest.approx(max(FLOOR, before * decrease))
                last_cut = clock.now()
        assert FLOOR <= rate.value <= CEILING


def test_a_cut_rate_is_back_at_the_ceiling_after_twelve_seconds_by_default() -> None:
    clock = FakeClock()
    rate = AimdRate(ceiling=CEILING, floor=FLOOR, clock=clock)
    rate.throttled(0.0)
    assert rate.value == pytest.approx(0.7 * CEILING)

    clock.advance(6.0)
    assert rate.value == pytest.approx(0.7 * CEILING + 6 * CEILING / 40)
    clock.advance(6.0)
    assert rate.value == CEILING
    clock.advance(600.0)
    assert rate.value == CEILING


def test_repeated_throttling_stops_at_the_floor() -> None:
    clock = FakeClock()
    rate = AimdRate(ceiling=CEILING, floor=FLOOR, clock=clock)
    for _ in range(30):
        clock.advance(0.01)
        rate.throttled(clock.now())
    assert rate.value == FLOOR


@pytest.mark.parametrize(("floor", "decrease"), [(0.0, 0.5), (300.0, 0.5), (10.0, 1.0)])
def test_a_rate_needs_a_positive_floor_below_the_ceiling_and_a_real_cut(
    floor: float, decrease: float
) -> None:
    with pytest.raises(ValueError, match=r"floor|decrease"):
        AimdRate(ceiling=CEILING, floor=floor, clock=FakeClock(), decrease=decrease)


# --- QuotaPacer ------------------------------------------------------------------------------

requests = st.lists(
    st.tuples(
        st.sampled_from([1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0]),  # Gmail's costs, batches
        st.floats(0.0, 1.5),  # seconds from sending to the answer
        st.floats(0.0, 1.0),  # where in that flight Gmail counts the call
    ),
    min_size=1,
    max_size=80,
)


@PROPERTY_SETTINGS
@given(requests=requests)
def test_no_sliding_window_ever_sees_more_than_the_budget_whatever_the_latency(
    requests: list[tuple[float, float, float]],
) -> None:
    clock = SimClock()
    pacer = make_pacer(clock)

    tickets = asyncio.run(send_all(pacer, clock, [(cost, flight) for cost, flight, _ in requests]))

    arrivals = sorted(
        (ticket.sent_at + where * flight, ticket.cost)
        for ticket, (_, flight, where) in zip(tickets, requests, strict=True)
    )
    now = 0.0
    gmail = SlidingWindowQuota(units=CEILING, window=1.0, now=lambda: now)
    for now, cost in arrivals:  # the quota reads `now`
        assert gmail.charge(cost) is None, f"{cost} units at {now:.4f} s refused"


@PROPERTY_SETTINGS
@given(cost=st.sampled_from([1.0, 5.0, 10.0, 50.0]), count=st.integers(2, 120))
def test_calls_without_latency_leave_evenly_at_the_full_rate(cost: float, count: int) -> None:
    clock = SimClock()
    pacer = make_pacer(clock)

    tickets = asyncio.run(send_all(pacer, clock, [(cost, 0.0)] * count))

    gaps = [b.sent_at - a.sent_at for a, b in itertools.pairwise(tickets)]
    assert tickets[0].sent_at == 0.0
    # No burst: every call a cost's worth of time after the one before, and no slower.
    assert all(gap == pytest.approx(cost / CEILING, abs=1e-5) for gap in gaps)


def test_latency_costs_only_its_own_share_of_the_rate() -> None:
    clock = SimClock()
    pacer = make_pacer(clock)

    tickets = asyncio.run(send_all(pacer, clock, [(50.0, 0.05)] * 50))

    # Five calls fill a window; the sixth leaves one window after the first one's answer.
    assert [round(t.sent_at, 4) for t in tickets[:7]] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.05, 1.25]
    # Over the whole run: at least the budget of 1 s in every 1.05 s.
    rate = sum(t.cost for t in tickets[:-1]) / tickets[-1].sent_at
    assert CEILING / 1.05 - 0.5 <= rate <= CEILING


async def test_units_in_flight_count_until_their_answer_arrives() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock)
    first = await pacer.acquire(250.0)

    waiting = asyncio.ensure_future(pacer.acquire(5.0))
    for _ in range(10):
        await asyncio.sleep(0)
    clock.advance(30.0)  # however long the first call takes, nothing else may leave
    for _ in range(10):
        await asyncio.sleep(0)
    assert not waiting.done()
    assert pacer.counted() == 250.0

    pacer.answered(first)
    second = await waiting

    assert second.sent_at == pytest.approx(31.0, abs=1e-5)  # one window after the answer


async def test_throttling_cuts_the_rate_holds_until_retry_after_and_shrinks_requests() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock)
    assert pacer.calls_per_request(5) == 10
    ticket = await pacer.acquire(50.0)
    pacer.answered(ticket)

    pacer.throttled(ticket, retry_after=2.5)
    after = await pacer.acquire(5.0)

    assert after.sent_at == pytest.approx(2.5)
    assert pacer.rate.cuts == 1
    # 175 units/s two and a half seconds ago, plus 6.25 per second since: 190.625 units/s.
    assert pacer.rate.value == pytest.approx(190.625)
    assert pacer.calls_per_request(5) == 7
    pacer.answered(after)
    following = await pacer.acquire(5.0)
    assert following.sent_at - after.sent_at == pytest.approx(5 / 190.625, rel=1e-3)


async def test_a_second_429_for_calls_sent_before_the_cut_does_not_cut_again() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock)
    early = [await pacer.acquire(10.0) for _ in range(3)]

    for ticket in early:
        pacer.answered(ticket)
        pacer.throttled(ticket, retry_after=None)

    assert pacer.rate.cuts == 1
    assert pacer.rate.value == pytest.approx(0.7 * CEILING)


async def test_at_the_floor_a_request_still_carries_one_call() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock)
    for _ in range(20):
        clock.advance(0.001)
        pacer.rate.throttled(clock.now())

    assert pacer.rate.value == FLOOR
    assert pacer.calls_per_request(5) == 1
    assert pacer.calls_per_request(100) == 1


async def test_a_call_costing_more_than_the_budget_waits_for_an_empty_window() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock)
    small = await pacer.acquire(5.0)
    pacer.answered(small)

    big = await pacer.acquire(400.0)

    assert big.sent_at == pytest.approx(1.0, abs=1e-5)
