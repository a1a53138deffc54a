"""The quota token bucket, alone and inside GmailClient, in virtual time."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from leadflow.sync.gmail import GmailClient, TokenBucket
from tests.fakes.clock import FakeClock
from tests.fakes.fixtures import FAKE_GMAIL_BASE
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_tokens import IssuerTokens

BASE = FAKE_GMAIL_BASE


def units_in_windows(grants: list[tuple[float, int]], width: float) -> int:
    """The most units granted within any half-open window [t, t + width)."""
    best = 0
    for start, _ in grants:
        best = max(best, sum(cost for at, cost in grants if start <= at < start + width - 1e-9))
    return best


async def test_calls_beyond_the_burst_are_paced_at_the_unit_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=250, capacity=250, clock=clock)
    grants: list[tuple[float, int]] = []

    async def call() -> None:
        await bucket.acquire(5)
        grants.append((clock.now(), 5))

    await asyncio.gather(*(call() for _ in range(200)))

    # 1,000 units: 250 from the full bucket at once, the other 750 at 250 per second.
    assert clock.now() == pytest.approx(3.0)
    assert len(grants) == 200
    assert grants[49][0] == 0.0
    assert grants[50][0] == pytest.approx(0.02)
    for width in (0.1, 0.5, 1.0, 2.0):
        assert units_in_windows(grants, width) <= 250 + 250 * width
    # Once the burst is spent, no one-second window holds more than a second's worth of units.
    after_burst = [(at, cost) for at, cost in grants if at > 0]
    assert units_in_windows(after_burst, 1.0) <= 250


async def test_an_idle_bucket_refills_only_up_to_its_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100, capacity=100, clock=clock)
    await bucket.acquire(100)
    clock.advance(60)

    for _ in range(20):
        await bucket.acquire(5)
    await bucket.acquire(5)

    assert clock.now() == pytest.approx(60.05)


async def test_a_cost_above_capacity_waits_for_a_full_bucket_then_passes() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=10, clock=clock)
    await bucket.acquire(10)

    await bucket.acquire(100)

    assert clock.now() == pytest.approx(1.0)
    assert bucket.available == pytest.approx(-90)


async def test_the_client_spends_the_documented_units_per_call() -> None:
    clock = FakeClock()
    mailbox = FakeMailbox(clock=clock)
    messages = mailbox.add_synthetic_messages(100)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mailbox.app)) as http:
        gmail = GmailClient(
            base_url=BASE,
            user="me",
            http=http,
            credentials=IssuerTokens(mailbox.tokens),
            clock=clock,
            units_per_second=250,
        )
        await gmail.get_profile()
        await gmail.list_messages()
        await gmail.list_history(start_history_id="1000")
        await asyncio.gather(*(gmail.get_message(m.id) for m in messages))

    assert gmail.stats.units_used == 1 + 5 + 2 + 100 * 5
    assert mailbox.units_charged == gmail.stats.units_used
    # 508 units at 250/s with 250 of burst.
    assert clock.now() == pytest.approx((508 - 250) / 250)


@pytest.mark.parametrize(("client_rate", "throttled"), [(250.0, False), (1000.0, True)])
async def test_a_client_paced_at_the_quota_draws_no_429_and_a_faster_one_does(
    client_rate: float, throttled: bool
) -> None:
    clock = FakeClock()
    mailbox = FakeMailbox(clock=clock, quota_units_per_second=250)
    messages = mailbox.add_synthetic_messages(300)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mailbox.app)) as http:
        gmail = GmailClient(
            base_url=BASE,
            user="me",
            http=http,
            credentials=IssuerTokens(mailbox.tokens),
            clock=clock,
            wall_clock=clock.wall,
            rng=random.Random(9),
            units_per_second=client_rate,
            max_attempts=20,
        )
        got = await asyncio.gather(*(gmail.get_message(m.id) for m in messages))

    assert len(got) == 300
    assert (mailbox.throttled > 0) is throttled
    assert gmail.stats.throttled == mailbox.throttled
