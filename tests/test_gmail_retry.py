"""The error classifier and the retry policy, in virtual time."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from leadflow.sync.gmail import (
    GmailAuthError,
    GmailBadRequest,
    GmailClient,
    GmailError,
    GmailNotFound,
    GmailPermissionError,
    GmailRateLimited,
    classify,
)
from tests.fakes.clock import EPOCH, FakeClock
from tests.fakes.fixtures import FAKE_GMAIL_BASE
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_tokens import IssuerTokens
from tests.fakes.gmail_wire import error_body

BASE = FAKE_GMAIL_BASE


class CeilingRandom(random.Random):
    """Always draws the top of the range, to check the backoff ceilings exactly."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
async def http(mailbox: FakeMailbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mailbox.app)) as client:
        yield client


@pytest.fixture
def make_gmail(
    mailbox: FakeMailbox, http: httpx.AsyncClient, clock: FakeClock
) -> Callable[..., GmailClient]:
    def make(**kwargs: Any) -> GmailClient:
        options: dict[str, Any] = {"rng": random.Random(42), "max_attempts": 6}
        options.update(kwargs)
        return GmailClient(
            base_url=BASE,
            user=mailbox.email,
            http=http,
            credentials=IssuerTokens(mailbox.tokens),
            clock=clock,
            wall_clock=clock.wall,
            **options,
        )

    return make


# --- classify ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_throttling_and_server_errors_are_transient(status: int) -> None:
    error = classify(status, error_body(status), None)

    assert not error.permanent
    assert error.status == status
    assert isinstance(error, GmailRateLimited) == (status == 429)


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
def test_a_403_rate_limit_is_transient(reason: str) -> None:
    error = classify(403, error_body(403, "User-rate limit exceeded.", reason), None)

    assert isinstance(error, GmailRateLimited)
    assert not error.permanent
    assert error.reason == reason


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (401, "authError", GmailAuthError),
        (403, "insufficientPermissions", GmailPermissionError),
        (403, "domainPolicy", GmailPermissionError),
        (403, None, GmailPermissionError),
        (404, "notFound", GmailNotFound),
        (400, "invalidArgument", GmailBadRequest),
    ],
)
def test_auth_permission_missing_and_bad_requests_are_permanent(
    status: int, reason: str | None, kind: type[GmailError]
) -> None:
    body = error_body(status, reason=reason) if reason else {"error": {"code": status}}

    error = classify(status, body, None)

    assert type(error) is kind
    assert error.permanent
    assert error.reason == reason


def test_a_missing_permission_names_the_scope_and_delegation() -> None:
    message = classify(403, error_body(403), None).message

    assert "https://www.googleapis.com/auth/gmail.readonly" in message
    assert "domain-wide delegation" in message


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.ReadError("reset"),
    ],
)
def test_timeouts_and_connection_errors_are_transient(exc: Exception) -> None:
    assert not classify(None, None, exc).permanent


def test_an_unexpected_exception_is_permanent() -> None:
    assert classify(None, None, httpx.UnsupportedProtocol("gopher://")).permanent


def test_a_body_that_is_not_googles_error_shape_still_classifies() -> None:
    error = classify(502, {"unexpected": ["html page"]}, None)

    assert not error.permanent
    assert error.reason is None


def test_retry_after_is_read_from_seconds_http_date_and_gmail_text() -> None:
    def now() -> Any:
        return EPOCH

    later = format_datetime(EPOCH + timedelta(seconds=45), usegmt=True)
    iso = (EPOCH + timedelta(seconds=120)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    text_body = error_body(
        403, f"User-rate limit exceeded.  Retry after {iso}", "rateLimitExceeded"
    )

    assert classify(429, None, None, headers={"retry-after": "30"}, now=now).retry_after == 30
    assert classify(429, None, None, headers={"retry-after": later}, now=now).retry_after == 45
    assert classify(403, text_body, None, now=now).retry_after == 120
    assert classify(429, error_body(429), None, now=now).retry_after is None


def test_a_retry_after_in_the_far_future_is_capped_at_15_minutes() -> None:
    error = classify(429, None, None, headers={"retry-after": "86400"})

    assert error.retry_after == 900


# --- retrying, in virtual time -------------------------------------------------------------


async def test_transient_errors_are_retried_with_full_jitter_from_a_seeded_rng(
    make_gmail: Callable[..., GmailClient], mailbox: FakeMailbox, clock: FakeClock
) -> None:
    message = mailbox.add_message()
    for status in (503, 500, 429, 502, 504):
        mailbox.inject(status, method="messages.get")
    gmail = make_gmail(rng=random.Random(42))

    got = await gmail.get_message(message.id)

    expected_rng = random.Random(42)
    expected = [expected_rng.uniform(0, 2**n) for n in range(5)]
    assert got["id"] == message.id
    assert clock.sleeps == pytest.approx(expected)
    assert all(0 <= wait <= 2**n for n, wait in enumerate(clock.sleeps))
    assert mailbox.calls["messages.get"] == 6
    assert (gmail.stats.api_calls, gmail.stats.retries, gmail.stats.failures) == (6, 5, 0)
    assert gmail.stats.throttled == 1


async def test_backoff_doubles_from_one_second_and_is_capped_at_64(
    make_gmail: Callable[..., GmailClient], mailbox: FakeMailbox, clock: FakeClock
) -> None:
    mailbox.inject(503, times=9)
    gmail = make_gmail(rng=CeilingRandom(), max_attempts=10)

    await gmail.get_profile()

    assert clock.sleeps == [1, 2, 4, 8, 16, 32, 64, 64, 64]


async def test_it_gives_up_after_max_attempts(
    make_gmail: Callable[..., GmailClient], mailbox: FakeMailbox, clock: FakeClock
) -> None:
    mailbox.inject(503, times=10)
    gmail = make_gmail(max_attempts=3)

    with pytest.raises(GmailError) as caught:
        await gmail.get_profile()

    assert caught.value.status == 503
    assert not caught.value.permanent
    assert mailbox.calls["getProfile"] == 3
    assert len(clock.sleeps) == 2
    assert (gmail.stats.retries, gmail.stats.failures) == (2, 1)


async def test_a_retry_after_header_is_waited_out(
    make_gmail: Callable[..., GmailClient], mailbox: FakeMailbox, clock: FakeClock
) -> None:
    mailbox.inject(429, retry_after="30")

    await make_gmail(rng=CeilingRandom()).get_profile()

    assert clock.sleeps == [30]


async def test_a_retry_after_http_date_is_waited_out(
    make_gmail: Callable[..., GmailClient], mailbox: FakeMailbox, clock: FakeClock
) -> None:
    mailbox.inject(503, retry_after=format_datetime(clock.wall() + timedelta(seconds=45), True))

    await make_gmail().get_profile()

    assert clock.sleeps == [pytest.approx(45)]


async def test_gmails_retry_after_text_in_a_403_is_waited_out(
    make_gmail: Callable[..., GmailClient], mailbox: FakeMailbox, clock: FakeClock
) -> None:
    mailbox.inject(403, reason="userRateLimitExceeded", message=mailbox.retry_after_text(120))

    gmail = make_gmail()
    await gmail.get_profile()

    assert clock.sleeps == [pytest.approx(120)]
    assert gmail.stats.throttled == 1


async def test_a_retry_after_shorter_than_the_jitter_does_not_shorten_the_wait(
    make_gmail: Callable[..., GmailClient], mailbox: FakeMailbox, clock: FakeClock
) -> None:
    mailbox.inject(429, retry_after="0", times=3)

    await make_gmail(rng=CeilingRandom()).get_profile()

    assert clock.sleeps == [1, 2, 4]


async def test_permanent_errors_are_not_retried(
    make_gmail: Callable[..., GmailClient], mailbox: FakeMailbox, clock: FakeClock
) -> None:
    mailbox.inject(400)
    gmail = make_gmail()

    with pytest.raises(GmailBadRequest):
        await gmail.get_profile()

    assert clock.sleeps == []
    assert mailbox.calls["getProfile"] == 1


async def test_connection_errors_and_timeouts_are_retried(clock: FakeClock) -> None:
    failures: list[Exception] = [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")]
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if failures:
            raise failures.pop(0)
        return httpx.Response(200, json={"emailAddress": "info@rendetalje.dk", "historyId": "7"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        gmail = GmailClient(
            base_url=BASE,
            user="info@rendetalje.dk",
            http=http,
            credentials=IssuerTokens(FakeMailbox(clock=clock).tokens),
            clock=clock,
            rng=random.Random(1),
        )
        profile = await gmail.get_profile()

    assert profile["historyId"] == "7"
    assert len(requests) == 3
    assert str(requests[0].url) == f"{BASE}/gmail/v1/users/info%40rendetalje.dk/profile"
    assert requests[0].headers["authorization"].startswith("Bearer ya29.")
    assert len(clock.sleeps) == 2
    assert gmail.stats.retries == 2


async def test_a_connection_that_never_comes_back_fails_as_transient(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        gmail = GmailClient(
            base_url=BASE,
            user="me",
            http=http,
            credentials=IssuerTokens(FakeMailbox(clock=clock).tokens),
            clock=clock,
            max_attempts=4,
        )
        with pytest.raises(GmailError) as caught:
            await gmail.get_profile()

    assert caught.value.reason == "connectionError"
    assert not caught.value.permanent
    assert (gmail.stats.api_calls, gmail.stats.failures) == (4, 1)


async def test_every_message_arrives_despite_one_in_five_calls_failing(
    clock: FakeClock,
) -> None:
    mailbox = FakeMailbox(clock=clock, fault_rate=0.2, seed=3)
    messages = mailbox.add_synthetic_messages(100)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mailbox.app)) as http:
        gmail = GmailClient(
            base_url=BASE,
            user="me",
            http=http,
            credentials=IssuerTokens(mailbox.tokens),
            clock=clock,
            rng=random.Random(5),
            max_attempts=8,
        )
        got = [await gmail.get_message(m.id) for m in messages]

    assert [m["id"] for m in got] == [m.id for m in messages]
    assert gmail.stats.retries > 0
    assert gmail.stats.failures == 0
    assert gmail.stats.api_calls == mailbox.calls["messages.get"]
