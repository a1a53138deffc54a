"""Wrong tokens count against their address: past the limit, /api and the login answer 429."""

from __future__ import annotations

import asyncio
import ipaddress
import math
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow.api.app import create_app
from leadflow.api.throttle import AuthThrottle, client_network
from leadflow.dashboard.web.deps import LOGIN_PATH
from leadflow.settings import Settings
from tests.conftest import API_TOKEN
from tests.dashboard.web import csrf_of, log_in
from tests.fakes.clock import FakeClock

LIMIT = 3
WINDOW = 60.0


def _throttle(clock: FakeClock, *, max_clients: int = 100) -> AuthThrottle:
    return AuthThrottle(
        limit=LIMIT, window_seconds=WINDOW, clock=clock.now, max_clients=max_clients
    )


def test_the_limit_holds_an_address_until_its_oldest_failure_ages_out() -> None:
    clock = FakeClock()
    throttle = _throttle(clock)
    for _ in range(LIMIT - 1):
        throttle.failed("10.0.0.1")
        clock.advance(10)
    assert throttle.retry_after("10.0.0.1") is None
    throttle.failed("10.0.0.1")  # the third, at t=20; the first was at t=0
    assert throttle.retry_after("10.0.0.1") == 40
    assert throttle.retry_after("10.0.0.2") is None  # other addresses are not held
    clock.advance(39.5)
    assert throttle.retry_after("10.0.0.1") == 1  # whole seconds, rounded up
    clock.advance(0.5)
    assert throttle.retry_after("10.0.0.1") is None  # t=60: the first failure is gone
    throttle.failed("10.0.0.1")  # held again, until the one at t=10 ages out
    assert throttle.retry_after("10.0.0.1") == 10


def test_addresses_beyond_the_bound_forget_the_least_recent() -> None:
    clock = FakeClock()
    throttle = _throttle(clock, max_clients=2)
    for address in ("a", "b", "a", "c"):
        for _ in range(LIMIT):
            throttle.failed(address)
    assert len(throttle) == 2
    assert throttle.retry_after("b") is None  # the least recently seen went
    assert throttle.retry_after("a") is not None
    assert throttle.retry_after("c") is not None


def test_failures_that_aged_out_free_their_address() -> None:
    clock = FakeClock()
    throttle = _throttle(clock)
    throttle.failed("a")
    clock.advance(WINDOW)
    assert throttle.retry_after("a") is None
    assert len(throttle) == 0


_steps = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.booleans(), st.floats(0, 2 * WINDOW)),
    max_size=60,
)


@given(_steps)
def test_it_answers_as_counting_every_failure_in_the_window_would(
    steps: list[tuple[str, bool, float]],
) -> None:
    clock = FakeClock()
    throttle = _throttle(clock)
    every: dict[str, list[float]] = {"a": [], "b": []}
    for address, fail, wait in steps:
        clock.advance(wait)
        now = clock.now()
        recent = [t for t in every[address] if t > now - WINDOW]
        expected = (
            None
            if len(recent) < LIMIT
            else max(1, math.ceil(recent[len(recent) - LIMIT] + WINDOW - now))
        )
        assert throttle.retry_after(address) == expected
        if fail:
            throttle.failed(address)
            every[address].append(now)


@pytest.fixture
async def throttled_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    app = create_app(
        settings.model_copy(
            update={"auth_failure_limit": LIMIT, "auth_failure_window_seconds": WINDOW}
        )
    )
    async with LifespanManager(app):
        yield app


def _client(
    app: FastAPI, address: str = "203.0.113.7", headers: dict[str, str] | None = None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)),
        base_url="http://leadflow.test",
        headers=headers,
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_wrong_tokens_past_the_limit_are_answered_429_even_for_the_right_one(
    throttled_app: FastAPI,
) -> None:
    async with _client(throttled_app) as guesser, _client(throttled_app, "198.51.100.9") as other:
        wrong = [await guesser.get("/api/leads", headers=_bearer(f"guess-{n}")) for n in range(3)]
        held = await guesser.get("/api/leads", headers=_bearer(API_TOKEN))
        elsewhere = await other.get("/api/leads", headers=_bearer(API_TOKEN))
    assert [answer.status_code for answer in wrong] == [401] * LIMIT
    assert held.status_code == 429
    body = held.json()
    assert body["error"]["code"] == "too_many_attempts"
    assert "LEADFLOW_AUTH_FAILURE_LIMIT" in body["error"]["message"]
    retry = int(held.headers["Retry-After"])
    assert 0 < retry <= WINDOW
    assert body["error"]["details"] == {"retry_after_seconds": retry}
    assert elsewhere.status_code == 200  # only the guessing address is held
    assert API_TOKEN not in held.text


async def test_the_address_is_let_in_again_once_the_window_has_passed(
    throttled_app: FastAPI,
) -> None:
    clock = FakeClock()
    throttled_app.state.auth_throttle = AuthThrottle(
        limit=LIMIT, window_seconds=WINDOW, clock=clock.now
    )
    async with _client(throttled_app) as guesser:
        for n in range(LIMIT):
            await guesser.get("/api/leads", headers=_bearer(f"guess-{n}"))
        clock.advance(WINDOW - 1)
        held = await guesser.get("/api/leads", headers=_bearer(API_TOKEN))
        clock.advance(1)
        back = await guesser.get("/api/leads", headers=_bearer(API_TOKEN))
    assert (held.status_code, held.headers["Retry-After"]) == (429, "1")
    assert back.status_code == 200


async def test_requests_without_a_token_are_not_guesses(throttled_app: FastAPI) -> None:
    async with _client(throttled_app) as anonymous:
        missing = [await anonymous.get("/api/leads") for _ in range(2 * LIMIT)]
        then = await anonymous.get("/api/leads", headers=_bearer(API_TOKEN))
        for n in range(LIMIT):
            await anonymous.get("/api/leads", headers=_bearer(f"guess-{n}"))
        held_without = await anonymous.get("/api/leads")
        held_with = await anonymous.get("/api/leads", headers=_bearer(API_TOKEN))
    assert {answer.status_code for answer in missing} == {401}
    assert then.status_code == 200
    # Held, a request without a token is still told it needs one (`leadflow check-frontend`
    # sends one such call and expects 401); one with a token is not answered.
    assert (held_without.status_code, held_with.status_code) == (401, 429)


async def test_racing_wrong_tokens_get_exactly_the_limit_of_answers(
    throttled_app: FastAPI,
) -> None:
    async with _client(throttled_app) as guesser:
        answers = await asyncio.gather(
            *(guesser.get("/api/customers", headers=_bearer(f"guess-{n}")) for n in range(12))
        )
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [401] * LIMIT + [429] * (12 - LIMIT)


async def test_the_login_form_counts_wrong_tokens_and_then_refuses_the_right_one(
    throttled_app: FastAPI,
) -> None:
    async with _client(throttled_app, headers={"Accept-Language": "da"}) as visitor:
        wrong = [await log_in(visitor, token=f"guess-{n}") for n in range(LIMIT)]
        held = await log_in(visitor)
        api = await visitor.get("/api/leads", headers=_bearer(API_TOKEN))
    assert [answer.status_code for answer in wrong] == [401] * LIMIT
    assert held.status_code == 429
    assert "location" not in held.headers  # not logged in
    minutes = math.ceil(int(held.headers["Retry-After"]) / 60)
    assert f"Prøv igen om {minutes} minut" in held.text  # Danish, with the wait
    assert api.status_code == 429  # the same address on the API


async def test_api_guesses_count_against_the_login_too(throttled_app: FastAPI) -> None:
    async with _client(throttled_app, headers={"Accept-Language": "en"}) as visitor:
        for n in range(LIMIT):
            await visitor.get("/api/leads", headers=_bearer(f"guess-{n}"))
        form = await visitor.get(LOGIN_PATH)
        held = await visitor.post(
            LOGIN_PATH,
            data={"csrf_token": csrf_of(form.text), "token": API_TOKEN, "next": "/dashboard"},
        )
    assert form.status_code == 200  # the form itself is still shown
    assert held.status_code == 429
    assert "Too many wrong tokens from this address" in held.text
    assert "location" not in held.headers  # not logged in


async def test_an_empty_login_is_no_guess(throttled_app: FastAPI) -> None:
    async with _client(throttled_app) as visitor:
        empty = [await log_in(visitor, token="  ") for _ in range(2 * LIMIT)]
        then = await log_in(visitor)
    assert {answer.status_code for answer in empty} == {401}
    assert then.status_code == 303


@pytest.mark.parametrize(
    ("address", "counted_as"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("testclient", "testclient"),
    ],
)
def test_an_ipv6_client_counts_by_its_64_network(address: str, counted_as: str) -> None:
    assert client_network({"type": "http", "client": (address, 40000)}) == counted_as


def test_a_request_without_a_client_address_counts_as_unknown() -> None:
    assert client_network({"type": "http", "client": None}) == "unknown"


@given(interface=st.integers(min_value=0, max_value=2**64 - 1))
def test_every_address_of_one_64_network_counts_alike(interface: int) -> None:
    network = ipaddress.IPv6Network("2001:db8:ab:cd::/64")
    address = str(network.network_address + interface)
    assert client_network({"type": "http", "client": (address, 1)}) == str(network)


async def test_guesses_from_fresh_ipv6_addresses_of_one_network_are_held_together(
    throttled_app: FastAPI,
) -> None:
    answers = []
    for n in range(LIMIT + 1):
        async with _client(throttled_app, f"2001:db8:1:2::{n + 1:x}") as guesser:
            answers.append(await guesser.get("/api/leads", headers=_bearer(f"guess-{n}")))
    async with _client(throttled_app, "2001:db8:1:3::1") as neighbour:
        elsewhere = await neighbour.get("/api/leads", headers=_bearer(API_TOKEN))
    assert [answer.status_code for answer in answers] == [401] * LIMIT + [429]
    assert elsewhere.status_code == 200  # the next /64 is someone else


METRICS_TOKEN = "metrics-token-for-tests"
WEBHOOK_SECRET = "webhook-secret-for-tests"


@pytest.fixture
async def guarded_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    app = create_app(
        settings.model_copy(
            update={
                "auth_failure_limit": LIMIT,
                "auth_failure_window_seconds": WINDOW,
                "metrics_token": SecretStr(METRICS_TOKEN),
                "webhook_secret": SecretStr(WEBHOOK_SECRET),
            }
        )
    )
    async with LifespanManager(app):
        yield app


async def test_wrong_metrics_tokens_hold_the_scrapes_and_nothing_else(
    guarded_app: FastAPI,
) -> None:
    async with _client(guarded_app) as scraper:
        wrong = [await scraper.get("/metrics", headers=_bearer(f"stale-{n}")) for n in range(3)]
        held = await scraper.get("/metrics", headers=_bearer(METRICS_TOKEN))
        api = await scraper.get("/api/leads", headers=_bearer(API_TOKEN))
        hook = await scraper.post(
            "/webhooks/uptimerobot", headers={"X-Webhook-Token": "wrong"}, data={}
        )
    assert [answer.status_code for answer in wrong] == [401] * LIMIT
    assert held.status_code == 429
    assert held.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(held.headers["Retry-After"]) <= WINDOW
    assert METRICS_TOKEN not in held.text
    assert api.status_code == 200  # the API token's count is its own
    assert hook.status_code == 401  # and so is the web-hook secret's


async def test_wrong_webhook_secrets_hold_the_webhook(guarded_app: FastAPI) -> None:
    async with _client(guarded_app) as sender:
        wrong = [
            await sender.post("/webhooks/uptimerobot", params={"token": f"guess-{n}"}, data={})
            for n in range(3)
        ]
        held = await sender.post(
            "/webhooks/uptimerobot", headers={"X-Webhook-Token": WEBHOOK_SECRET}, data={}
        )
        scrape = await sender.get("/metrics", headers=_bearer(METRICS_TOKEN))
        missing = await sender.post("/webhooks/uptimerobot", data={})
    assert [answer.status_code for answer in wrong] == [401] * LIMIT
    assert held.status_code == 429
    assert held.headers["Retry-After"].isdigit()
    assert scrape.status_code == 200
    assert missing.status_code == 401  # no secret at all is no guess, and not held
