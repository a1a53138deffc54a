"""GmailClient's quota pacing against the fake's quota models, in virtual time."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from leadflow.sync.gmail import GmailClient, GmailError
from tests.fakes.clock import FakeClock
from tests.fakes.fixtures import FAKE_GMAIL_BASE
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_tokens import IssuerTokens

BASE = FAKE_GMAIL_BASE


class SendTimes(httpx.AsyncBaseTransport):
    """Passes requests to the fake and notes the clock time and path of each."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: FakeClock) -> None:
        self.inner = inner
        self.clock = clock
        self.sent: list[tuple[float, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((self.clock.now(), request.url.path))
        return await self.inner.handle_async_request(request)


def make_client(
    mailbox: FakeMailbox, http: httpx.AsyncClient, clock: FakeClock, **options: Any
) -> GmailClient:
    values: dict[str, Any] = {
        "units_per_second": 250.0,
        "max_attempts": 10,
        "rng": random.Random(9),
    }
    values.update(options)
    return GmailClient(
        base_url=BASE,
        user="me",
        http=http,
        credentials=IssuerTokens(mailbox.tokens),
        clock=clock,
        wall_clock=clock.wall,
        **values,
    )


@pytest.fixture
async def recorded(
    mailbox: FakeMailbox, clock: FakeClock
) -> AsyncIterator[tuple[httpx.AsyncClient, SendTimes]]:
    transport = SendTimes(httpx.ASGITransport(app=mailbox.app), clock)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http, transport


async def fetch_all(gmail: GmailClient, ids: list[str], chunk: int = 100) -> None:
    """Fetch in chunks, as the sync does; every message must arrive."""
    for start in range(0, len(ids), chunk):
        results = await gmail.get_messages(ids[start : start + chunk])
        assert not [r for r in results if isinstance(r, GmailError)]


async def test_the_client_spends_the_documented_units_per_call(
    mailbox: FakeMailbox, clock: FakeClock, recorded: tuple[httpx.AsyncClient, SendTimes]
) -> None:
    messages = mailbox.add_synthetic_messages(100)
    gmail = make_client(mailbox, recorded[0], clock)

    await gmail.get_profile()
    await gmail.list_messages()
    await gmail.list_history(start_history_id="1000")
    await asyncio.gather(*(gmail.get_message(m.id) for m in messages))

    assert gmail.stats.units_used == 1 + 5 + 2 + 100 * 5
    assert mailbox.units_charged == gmail.stats.units_used
    # Each call leaves at least its cost's worth of time after the one before (1, 5, 2 and
    # 99 × 5 units at 250 units/s before the last get); the 1 s window may hold a call a little
    # longer, never by more than the few units that are not gets.
    assert (1 + 5 + 2 + 99 * 5) / 250 <= clock.now() <= (1 + 5 + 2 + 99 * 5 + 8) / 250 + 1e-3


async def test_concurrent_single_gets_are_spread_evenly_not_sent_as_a_burst(
    mailbox: FakeMailbox, clock: FakeClock, recorded: tuple[httpx.AsyncClient, SendTimes]
) -> None:
    messages = mailbox.add_synthetic_messages(60)
    http, transport = recorded
    gmail = make_client(mailbox, http, clock, concurrency=20)

    await asyncio.gather(*(gmail.get_message(m.id) for m in messages))

    times = [at for at, _ in transport.sent]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 60
    assert min(gaps) == pytest.approx(5 / 250, abs=1e-5)  # never two calls at once


async def test_a_batch_fetch_sends_requests_of_a_fifth_of_a_second_each(
    mailbox: FakeMailbox, clock: FakeClock, recorded: tuple[httpx.AsyncClient, SendTimes]
) -> None:
    messages = mailbox.add_synthetic_messages(200)
    http, transport = recorded
    gmail = make_client(mailbox, http, clock)

    await fetch_all(gmail, [m.id for m in messages])

    # 50 units (10 gets) per batch request, one every 0.2 s: no request holds a whole
    # second's budget, so no other call has to squeeze in next to it.
    assert mailbox.batch_requests == 20
    times = [at for at, _ in transport.sent]
    assert [round(b - a, 4) for a, b in itertools.pairwise(times)] == [0.2] * 19


@pytest.mark.parametrize("batch_size", [1, 50])
@pytest.mark.parametrize("mode", ["strict", "lenient"])
async def test_a_client_at_the_quota_draws_no_429_and_uses_the_whole_budget(
    batch_size: int, mode: str, clock: FakeClock
) -> None:
    mailbox = FakeMailbox(clock=clock, quota_units_per_second=250, quota_mode=mode)
    ids = [m.id for m in mailbox.add_synthetic_messages(500)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mailbox.app)) as http:
        gmail = make_client(mailbox, http, clock, batch_size=batch_size)
        await gmail.list_messages()
        await fetch_all(gmail, ids)

    assert mailbox.throttled == 0
    assert gmail.stats.retries == 0
    # Without network latency the pacer runs at the full rate: 2,505 units, the last call
    # leaving at (2,505 - its cost) / 250 s.
    assert mailbox.units_charged / (clock.now() + 5 / 250) >= 0.99 * 250


@pytest.mark.parametrize("refusal", [429, 403])
async def test_against_less_quota_than_its_ceiling_the_client_slows_down(
    refusal: int, clock: FakeClock
) -> None:
    # Another application spends part of the same user's quota: 150 units/s are left.
    mailbox = FakeMailbox(
        clock=clock, quota_units_per_second=150, quota_mode="strict", quota_refusal=refusal
    )
    ids = [m.id for m in mailbox.add_synthetic_messages(1200)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mailbox.app)) as http:
        gmail = make_client(mailbox, http, clock)
        await fetch_all(gmail, ids)

    calls = mailbox.calls["messages.get"]
    assert gmail.stats.throttled == mailbox.throttled > 0
    assert gmail._pacer.rate.cuts > 0
    # It adapts rather than hammering: few calls refused, most of the remaining quota used.
    assert mailbox.throttled / calls <= 0.03
    assert mailbox.units_charged / clock.now() >= 0.6 * 150


async def test_a_client_faster_than_the_quota_is_throttled_and_still_gets_everything(
    clock: FakeClock,
) -> None:
    mailbox = FakeMailbox(clock=clock, quota_units_per_second=250, quota_mode="strict")
    ids = [m.id for m in mailbox.add_synthetic_messages(300)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mailbox.app)) as http:
        gmail = make_client(mailbox, http, clock, units_per_second=1000)
        await fetch_all(gmail, ids)

    assert mailbox.throttled > 0
    assert gmail.stats.throttled == mailbox.throttled
    assert mailbox.calls["messages.get"] - mailbox.throttled == 300


async def test_the_pacer_keeps_under_a_concurrent_request_cap(clock: FakeClock) -> None:
    mailbox = FakeMailbox(
        clock=clock, quota_units_per_second=250, quota_mode="strict", max_concurrent_requests=2
    )
    ids = [m.id for m in mailbox.add_synthetic_messages(200)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mailbox.app)) as http:
        gmail = make_client(mailbox, http, clock, concurrency=10)
        await asyncio.gather(gmail.list_messages(), fetch_all(gmail, ids), gmail.get_profile())

    assert mailbox.throttled == 0
    assert mailbox.concurrency_cap is not None
    assert mailbox.concurrency_cap.most_in_flight <= 2
