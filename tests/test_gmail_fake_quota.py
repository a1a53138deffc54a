"""The Gmail fake's quota accounting itself, so that its strict mode cannot quietly go lenient."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.sync.gmail import GmailRateLimited, classify
from leadflow.sync.gmail.batch_wire import (
    InnerRequest,
    build_batch_body,
    new_boundary,
    parse_batch_response,
)
from tests.fakes.clock import FakeClock
from tests.fakes.fixtures import FAKE_GMAIL_BASE
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_quota import CONCURRENT_MESSAGE, ConcurrencyCap, SlidingWindowQuota

BASE = FAKE_GMAIL_BASE
USERS = "/gmail/v1/users/me"

calls = st.lists(
    st.tuples(st.floats(0.0, 0.6), st.sampled_from([1, 2, 5, 10, 50, 100])),  # (gap, cost)
    min_size=1,
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(calls=calls)
def test_the_strict_window_refuses_exactly_what_would_overfill_any_second(
    calls: list[tuple[float, int]],
) -> None:
    now = 0.0
    quota = SlidingWindowQuota(units=250, window=1.0, now=lambda: now)
    accepted: list[tuple[float, int]] = []
    for gap, cost in calls:
        now += gap
        in_window = sum(c for at, c in accepted if at > now - 1.0)
        wait = quota.charge(cost)
        if in_window + cost <= 250:
            assert wait is None
            accepted.append((now, cost))
        else:
            assert wait is not None
            # The wait is exact: the call fits once the window has moved on that far (give or
            # take float rounding), and not a millisecond earlier.
            later = now + wait + 1e-9
            assert sum(c for at, c in accepted if at > later - 1.0) + cost <= 250
            before = now + wait - 1e-3
            assert wait < 1e-3 or sum(c for at, c in accepted if at > before - 1.0) + cost > 250
    # And so no window of one second ever held more than 250 units.
    for start, _ in accepted:
        assert sum(c for at, c in accepted if start <= at < start + 1.0) <= 250


def strict_mailbox(clock: FakeClock, **options: Any) -> FakeMailbox:
    return FakeMailbox(clock=clock, quota_units_per_second=250, quota_mode="strict", **options)


async def batch_get(
    http: httpx.AsyncClient, mailbox: FakeMailbox, ids: list[str]
) -> dict[str, Any]:
    token = mailbox.tokens.issue()
    auth = {"Authorization": f"Bearer {token}"}
    inner = [
        InnerRequest(f"i{n}", f"{USERS}/messages/{mid}?format=minimal", auth)
        for n, mid in enumerate(ids)
    ]
    boundary = new_boundary()
    response = await http.post(
        "/batch/gmail/v1",
        content=build_batch_body(inner, boundary),
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}", **auth},
    )
    return parse_batch_response(response.headers["content-type"], response.content)


async def single_get(http: httpx.AsyncClient, mailbox: FakeMailbox, mid: str) -> httpx.Response:
    auth = {"Authorization": f"Bearer {mailbox.tokens.issue()}"}
    return await http.get(f"{USERS}/messages/{mid}", params={"format": "minimal"}, headers=auth)


@pytest.mark.parametrize(("mode", "refused"), [("strict", True), ("lenient", False)])
async def test_a_call_within_a_second_of_a_full_batch_is_refused_only_when_strict(
    mode: str, refused: bool
) -> None:
    clock = FakeClock()
    mailbox = FakeMailbox(clock=clock, quota_units_per_second=250, quota_mode=mode)
    ids = [m.id for m in mailbox.add_synthetic_messages(51)]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=mailbox.app), base_url=BASE
    ) as http:
        parts = await batch_get(http, mailbox, ids[:50])  # 250 units, all counted at 0 s
        assert {part.status for part in parts.values()} == {200}
        clock.advance(0.9)
        late = await single_get(http, mailbox, ids[50])

    # The token bucket has refilled 225 units by then; the sliding window still holds 250.
    assert (late.status_code == 429) is refused
    assert mailbox.throttled == int(refused)


async def test_the_strict_window_lets_a_call_through_once_the_batch_is_a_second_old() -> None:
    clock = FakeClock()
    mailbox = strict_mailbox(clock)
    ids = [m.id for m in mailbox.add_synthetic_messages(52)]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=mailbox.app), base_url=BASE
    ) as http:
        await batch_get(http, mailbox, ids[:50])
        clock.advance(0.999)
        refused = await single_get(http, mailbox, ids[50])
        clock.advance(0.001)
        accepted = await single_get(http, mailbox, ids[51])

    assert refused.status_code == 429
    error = classify(429, refused.json(), None, now=clock.wall)
    assert isinstance(error, GmailRateLimited)
    assert error.retry_after == pytest.approx(0.001, abs=1e-3)
    assert accepted.status_code == 200
    assert mailbox.units_charged == 255


async def test_a_batch_is_counted_call_by_call_on_arrival() -> None:
    clock = FakeClock()
    mailbox = strict_mailbox(clock)
    ids = [m.id for m in mailbox.add_synthetic_messages(60)]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=mailbox.app), base_url=BASE
    ) as http:
        parts = await batch_get(http, mailbox, ids)

    statuses = [parts[f"i{n}"].status for n in range(60)]
    assert statuses == [200] * 50 + [429] * 10
    assert mailbox.throttled == 10
    assert mailbox.units_charged == 250
    body = parts["i55"].body
    assert body is not None
    assert "Retry after 2026-03-02T09:00:01.000" in body["error"]["message"]


async def test_over_quota_can_answer_403_user_rate_limit_with_retry_after_text() -> None:
    clock = FakeClock()
    mailbox = strict_mailbox(clock, quota_refusal=403)
    ids = [m.id for m in mailbox.add_synthetic_messages(51)]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=mailbox.app), base_url=BASE
    ) as http:
        await batch_get(http, mailbox, ids[:50])
        clock.advance(0.25)
        refused = await single_get(http, mailbox, ids[50])

    assert refused.status_code == 403
    assert refused.json()["error"]["errors"][0]["reason"] == "userRateLimitExceeded"
    error = classify(403, refused.json(), None, now=clock.wall)
    assert isinstance(error, GmailRateLimited)
    assert error.retry_after == pytest.approx(0.75, abs=1e-3)


async def test_requests_beyond_the_concurrency_cap_are_answered_429() -> None:
    gate = asyncio.Event()
    served: list[str] = []

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        await gate.wait()
        served.append(scope["path"])
        await httpx_ok(send)

    refusals: list[int] = []
    cap = ConcurrencyCap(slow_app, limit=2, on_refuse=lambda: refusals.append(1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=cap), base_url=BASE) as http:
        first = asyncio.ensure_future(http.get(f"{USERS}/profile"))
        second = asyncio.ensure_future(http.post("/batch/gmail/v1"))
        for _ in range(20):
            await asyncio.sleep(0)
        third = await http.get(f"{USERS}/messages")
        gate.set()
        answers = await asyncio.gather(first, second)
        fourth = await http.get(f"{USERS}/messages")

    assert third.status_code == 429
    assert third.json()["error"]["message"] == CONCURRENT_MESSAGE
    assert [a.status_code for a in answers] == [200, 200]
    assert fourth.status_code == 200
    assert (len(refusals), cap.most_in_flight, cap.in_flight) == (1, 2, 0)


def test_the_mailbox_puts_the_cap_in_front_of_its_app() -> None:
    mailbox = FakeMailbox(max_concurrent_requests=3)

    assert mailbox.concurrency_cap is mailbox.app
    assert mailbox.concurrency_cap is not None
    assert mailbox.concurrency_cap.limit == 3


async def httpx_ok(send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})
