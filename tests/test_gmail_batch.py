"""Gmail HTTP batches: the client's get_messages against the fake, and the fake's wire format."""

from __future__ import annotations

import email
import email.policy
import json
import random
from collections.abc import AsyncIterator
from email.message import Message
from pathlib import Path

import httpx
import pytest

from leadflow.sync.gmail import (
    GmailAuthError,
    GmailClient,
    GmailError,
    GmailNotFound,
    GmailPermissionError,
    decode_raw,
)
from leadflow.sync.gmail.auth import load_credentials
from leadflow.sync.gmail.batch_wire import (
    BatchFormatError,
    InnerRequest,
    build_batch_body,
    parse_batch_response,
)
from tests.fakes.clock import FakeClock
from tests.fakes.fixtures import FAKE_GMAIL_BASE
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_server import write_credentials
from tests.fakes.gmail_tokens import READONLY_SCOPE, IssuerTokens

BASE = FAKE_GMAIL_BASE
BATCH_URL = f"{BASE}/batch/gmail/v1"


class FlakyTransport(httpx.AsyncBaseTransport):
    """Passes requests to the fake, but drops the connection on the first `drops` batch POSTs."""

    def __init__(self, inner: httpx.AsyncBaseTransport, drops: int) -> None:
        self.inner = inner
        self.drops = drops

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/batch/") and self.drops > 0:
            self.drops -= 1
            raise httpx.ConnectError("connection reset by peer", request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
def transport(mailbox: FakeMailbox) -> FlakyTransport:
    return FlakyTransport(httpx.ASGITransport(app=mailbox.app), drops=0)


@pytest.fixture
async def http(transport: FlakyTransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


@pytest.fixture
def tokens(mailbox: FakeMailbox) -> IssuerTokens:
    return IssuerTokens(mailbox.tokens)


def make_client(
    mailbox: FakeMailbox,
    http: httpx.AsyncClient,
    tokens: IssuerTokens,
    clock: FakeClock,
    **options: float,
) -> GmailClient:
    values: dict[str, float] = {"units_per_second": 1_000_000.0, "batch_size": 50}
    values.update(options)
    return GmailClient(
        base_url=BASE,
        user=mailbox.email,
        http=http,
        credentials=tokens,
        units_per_second=values["units_per_second"],
        batch_size=int(values["batch_size"]),
        max_attempts=int(values.get("max_attempts", 6)),
        clock=clock,
        rng=random.Random(3),
        wall_clock=clock.wall,
    )


@pytest.fixture
def gmail(
    mailbox: FakeMailbox, http: httpx.AsyncClient, tokens: IssuerTokens, clock: FakeClock
) -> GmailClient:
    return make_client(mailbox, http, tokens, clock)


def ok(result: dict[str, object] | GmailError) -> dict[str, object]:
    assert isinstance(result, dict), result
    return result


async def test_it_returns_every_message_in_the_order_asked_for(
    gmail: GmailClient, mailbox: FakeMailbox
) -> None:
    added = mailbox.add_synthetic_messages(120)
    ids = [m.id for m in added]
    random.Random(1).shuffle(ids)

    results = await gmail.get_messages(ids)

    assert [ok(r)["id"] for r in results] == ids
    by_id = {m.id: m for m in added}
    assert all(decode_raw(ok(r)) == by_id[str(ok(r)["id"])].raw for r in results)
    assert mailbox.batch_requests == 3  # 50 + 50 + 20
    assert mailbox.calls["messages.get"] == 120
    assert (gmail.stats.api_calls, gmail.stats.units_used, gmail.stats.retries) == (120, 600, 0)


async def test_only_the_failed_parts_are_sent_again(
    gmail: GmailClient, mailbox: FakeMailbox, clock: FakeClock
) -> None:
    added = mailbox.add_synthetic_messages(10)
    gone, throttled, broken = added[2].id, added[5].id, added[8].id
    mailbox.inject(404, method="messages.get", message_id=gone)
    mailbox.inject(429, method="messages.get", message_id=throttled, times=2)
    mailbox.inject(503, method="messages.get", message_id=broken)

    results = await gmail.get_messages([m.id for m in added])

    assert isinstance(results[2], GmailNotFound)
    assert [ok(r)["id"] for i, r in enumerate(results) if i != 2] == [
        m.id for i, m in enumerate(added) if i != 2
    ]
    # First batch of 10, then [throttled, broken], then [throttled].
    assert mailbox.batch_requests == 3
    assert mailbox.calls["messages.get"] == 13
    assert gmail.stats.api_calls == 13
    assert gmail.stats.retries == 3
    assert gmail.stats.throttled == 2
    assert gmail.stats.failures == 1
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 1.0
    assert 0 <= clock.sleeps[1] <= 2.0


async def test_a_part_asking_to_retry_later_delays_the_next_batch(
    gmail: GmailClient, mailbox: FakeMailbox, clock: FakeClock
) -> None:
    added = mailbox.add_synthetic_messages(3)
    mailbox.inject(
        403,
        method="messages.get",
        message_id=added[1].id,
        reason="userRateLimitExceeded",
        message=mailbox.retry_after_text(30),
    )

    results = await gmail.get_messages([m.id for m in added])

    assert all(isinstance(r, dict) for r in results)
    assert clock.sleeps == [pytest.approx(30.0)]


async def test_a_permanently_refused_part_is_not_sent_again(
    gmail: GmailClient, mailbox: FakeMailbox
) -> None:
    added = mailbox.add_synthetic_messages(4)
    mailbox.inject(403, method="messages.get", message_id=added[0].id)

    results = await gmail.get_messages([m.id for m in added])

    assert isinstance(results[0], GmailPermissionError)
    assert "gmail.readonly" in results[0].message
    assert mailbox.calls["messages.get"] == 4
    assert gmail.stats.retries == 0


async def test_a_part_still_failing_after_every_attempt_gets_its_error(
    mailbox: FakeMailbox, http: httpx.AsyncClient, tokens: IssuerTokens, clock: FakeClock
) -> None:
    gmail = make_client(mailbox, http, tokens, clock, max_attempts=3)
    added = mailbox.add_synthetic_messages(2)
    mailbox.inject(500, method="messages.get", message_id=added[1].id, times=5)

    results = await gmail.get_messages([m.id for m in added])

    ok(results[0])
    assert isinstance(results[1], GmailError)
    assert results[1].status == 500
    assert mailbox.calls["messages.get"] == 2 + 2
    assert (gmail.stats.retries, gmail.stats.failures) == (2, 1)


async def test_a_whole_batch_answering_503_is_sent_again_whole(
    gmail: GmailClient, mailbox: FakeMailbox, clock: FakeClock
) -> None:
    added = mailbox.add_synthetic_messages(7)
    mailbox.inject(503, method="batch")

    results = await gmail.get_messages([m.id for m in added])

    assert [ok(r)["id"] for r in results] == [m.id for m in added]
    assert mailbox.batch_requests == 2
    assert mailbox.calls["messages.get"] == 7  # the refused batch reached no handler
    assert (gmail.stats.api_calls, gmail.stats.retries) == (14, 7)
    assert len(clock.sleeps) == 1


async def test_a_dropped_connection_sends_the_batch_again(
    gmail: GmailClient, mailbox: FakeMailbox, transport: FlakyTransport
) -> None:
    added = mailbox.add_synthetic_messages(5)
    transport.drops = 2

    results = await gmail.get_messages([m.id for m in added])

    assert [ok(r)["id"] for r in results] == [m.id for m in added]
    assert gmail.stats.retries == 10


async def test_a_batch_failing_on_every_attempt_raises(
    mailbox: FakeMailbox, http: httpx.AsyncClient, tokens: IssuerTokens, clock: FakeClock
) -> None:
    gmail = make_client(mailbox, http, tokens, clock, max_attempts=3)
    added = mailbox.add_synthetic_messages(4)
    mailbox.inject(502, method="batch", times=3)

    with pytest.raises(GmailError) as raised:
        await gmail.get_messages([m.id for m in added])

    assert raised.value.status == 502
    assert mailbox.batch_requests == 3
    assert (gmail.stats.retries, gmail.stats.failures) == (8, 4)


async def test_a_part_answering_401_refreshes_the_token_once(
    gmail: GmailClient, mailbox: FakeMailbox, tokens: IssuerTokens
) -> None:
    added = mailbox.add_synthetic_messages(3)
    mailbox.inject(401, method="messages.get", message_id=added[1].id)

    results = await gmail.get_messages([m.id for m in added])

    assert all(isinstance(r, dict) for r in results)
    assert tokens.refreshes == 1
    assert gmail.stats.retries == 1


async def test_a_part_refused_after_the_refresh_gets_an_auth_error(
    gmail: GmailClient, mailbox: FakeMailbox, tokens: IssuerTokens
) -> None:
    added = mailbox.add_synthetic_messages(3)
    mailbox.inject(401, method="messages.get", message_id=added[2].id, times=2)

    results = await gmail.get_messages([m.id for m in added])

    assert isinstance(results[2], GmailAuthError)
    assert "leadflow gmail authorize" in results[2].message
    assert tokens.refreshes == 1
    ok(results[0])


async def test_a_batch_costs_five_units_per_message_and_is_spread_over_time(
    mailbox: FakeMailbox, http: httpx.AsyncClient, tokens: IssuerTokens, clock: FakeClock
) -> None:
    gmail = make_client(mailbox, http, tokens, clock, units_per_second=250)
    added = mailbox.add_synthetic_messages(100)

    await gmail.get_messages([m.id for m in added])

    assert gmail.stats.units_used == 500
    assert mailbox.units_charged == 500
    # Not two batches of 250 units (each a whole second's budget at once) but ten of 50 units,
    # a fifth of a second apart: the last leaves at 1.8 s.
    assert mailbox.batch_requests == 10
    assert clock.now() == pytest.approx(1.8)


async def test_batch_size_one_fetches_with_single_gets(
    mailbox: FakeMailbox, http: httpx.AsyncClient, tokens: IssuerTokens, clock: FakeClock
) -> None:
    gmail = make_client(mailbox, http, tokens, clock, batch_size=1)
    added = mailbox.add_synthetic_messages(4)
    mailbox.inject(404, method="messages.get", message_id=added[3].id)

    results = await gmail.get_messages([m.id for m in added], format="minimal")

    assert mailbox.batch_requests == 0
    assert [ok(r)["labelIds"] for r in results[:3]] == [["INBOX", "UNREAD"]] * 3
    assert isinstance(results[3], GmailNotFound)


async def test_the_client_refuses_batches_larger_than_gmail_allows(
    mailbox: FakeMailbox, http: httpx.AsyncClient, tokens: IssuerTokens, clock: FakeClock
) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        make_client(mailbox, http, tokens, clock, batch_size=101)


# --- the fake's wire format, read without leadflow's batch parser ----------------------------


def mime_parts(message: Message) -> list[Message]:
    parts = message.get_payload()
    assert isinstance(parts, list)
    return [part for part in parts if isinstance(part, Message)]


def hand_written_batch(token: str, ids: list[str]) -> bytes:
    parts = [
        "--xyz\r\n"
        "Content-Type: application/http\r\n"
        f"Content-ID: <q{n}>\r\n\r\n"
        f"GET /gmail/v1/users/me/messages/{mid}?format=minimal HTTP/1.1\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
        for n, mid in enumerate(ids)
    ]
    return ("".join(parts) + "--xyz--\r\n").encode()


async def test_the_fake_answers_a_batch_in_googles_multipart_format(
    mailbox: FakeMailbox, http: httpx.AsyncClient
) -> None:
    added = mailbox.add_synthetic_messages(2)
    token = mailbox.tokens.issue(frozenset({READONLY_SCOPE}))
    body = hand_written_batch(token, [added[0].id, "ffffffffffffffff", added[1].id])

    response = await http.post(
        BATCH_URL, content=body, headers={"Content-Type": "multipart/mixed; boundary=xyz"}
    )

    assert response.status_code == 200
    envelope = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode()
    parsed = email.message_from_bytes(envelope + response.content, policy=email.policy.compat32)
    assert parsed.get_content_type() == "multipart/mixed"
    parts = mime_parts(parsed)
    assert [p["Content-ID"] for p in parts] == ["<response-q0>", "<response-q1>", "<response-q2>"]
    assert {p.get_content_type() for p in parts} == {"application/http"}
    answers = []
    for part in parts:
        http_text = part.get_payload()
        assert isinstance(http_text, str)
        head, _, payload = http_text.partition("\r\n\r\n")
        status_line, *header_lines = head.split("\r\n")
        assert "content-type: application/json" in "\n".join(header_lines).lower()
        answers.append((status_line, json.loads(payload)))
    assert answers[0][0] == "HTTP/1.1 200 OK"
    assert answers[0][1]["id"] == added[0].id
    assert answers[1][0] == "HTTP/1.1 404 Not Found"
    assert answers[1][1]["error"]["code"] == 404
    assert answers[2][1]["labelIds"] == ["INBOX", "UNREAD"]
    assert mailbox.calls["messages.get"] == 3


async def test_the_fake_refuses_a_batch_of_more_than_100_calls(
    mailbox: FakeMailbox, http: httpx.AsyncClient
) -> None:
    body = hand_written_batch("t", ["0a"] * 101)

    response = await http.post(
        BATCH_URL, content=body, headers={"Content-Type": "multipart/mixed; boundary=xyz"}
    )

    assert response.status_code == 400
    assert mailbox.calls["messages.get"] == 0


async def test_the_fake_refuses_a_batch_that_is_not_multipart(
    mailbox: FakeMailbox, http: httpx.AsyncClient
) -> None:
    response = await http.post(BATCH_URL, json={"requests": []})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


async def test_each_call_in_a_batch_needs_a_valid_token(
    mailbox: FakeMailbox, http: httpx.AsyncClient
) -> None:
    added = mailbox.add_message()

    response = await http.post(
        BATCH_URL,
        content=hand_written_batch("not-a-token", [added.id]),
        headers={"Content-Type": "multipart/mixed; boundary=xyz"},
    )

    parts = parse_batch_response(response.headers["content-type"], response.content)
    assert parts["q0"].status == 401


# --- leadflow's batch format functions --------------------------------------------------------


def test_a_built_batch_reads_back_with_pythons_email_package() -> None:
    body = build_batch_body(
        [InnerRequest(f"item-{n}", f"/gmail/v1/users/me/messages/{n}", {"A": "b"}) for n in (1, 2)],
        "bnd",
    )

    parsed = email.message_from_bytes(
        b"Content-Type: multipart/mixed; boundary=bnd\r\n\r\n" + body,
        policy=email.policy.compat32,
    )

    parts = mime_parts(parsed)
    assert [p["Content-ID"] for p in parts] == ["<item-1>", "<item-2>"]
    assert str(parts[1].get_payload()).startswith("GET /gmail/v1/users/me/messages/2 HTTP/1.1")
    assert not parsed.defects


def test_it_reads_an_answer_with_bare_newlines_and_a_quoted_boundary() -> None:
    body = (
        b"--b 1\n"
        b"Content-Type: application/http\n"
        b"Content-ID: <response-item-1>\n\n"
        b"HTTP/1.1 404 Not Found\nContent-Type: application/json\n\n"
        b'{"error": {"code": 404, "message": "gone"}}\n'
        b"--b 1--\n"
    )

    parts = parse_batch_response('multipart/mixed; boundary="b 1"', body)

    assert parts["item-1"].status == 404
    assert parts["item-1"].body == {"error": {"code": 404, "message": "gone"}}


def test_an_answer_that_is_not_multipart_is_a_format_error() -> None:
    with pytest.raises(BatchFormatError):
        parse_batch_response("application/json", b"{}")


# --- a 401 inside a batch, while the token endpoint is unwell --------------------------------


class TokenTimeouts(httpx.AsyncBaseTransport):
    """Passes requests to the fake, but lets the first `timeouts` token refreshes time out."""

    def __init__(self, inner: httpx.AsyncBaseTransport, timeouts: int) -> None:
        self.inner = inner
        self.timeouts = timeouts
        self.token_posts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            self.token_posts += 1
            # The first POST fetches the initial token; later ones are refreshes.
            if self.token_posts > 1 and self.timeouts > 0:
                self.timeouts -= 1
                raise httpx.ReadTimeout("token endpoint did not answer", request=request)
        return await self.inner.handle_async_request(request)


def token_endpoint_client(
    mailbox: FakeMailbox, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> GmailClient:
    """A client whose tokens come from the fake's OAuth endpoint, as in production."""
    credentials = tmp_path / "credentials.json"
    write_credentials(mailbox, BASE, credentials)
    return GmailClient(
        base_url=BASE,
        user=mailbox.email,
        http=http,
        credentials=load_credentials(credentials, user=mailbox.email, http=http),
        units_per_second=1_000_000.0,
        clock=clock,
        rng=random.Random(3),
        wall_clock=clock.wall,
    )


@pytest.mark.parametrize("status", [503, 500, 429])
async def test_a_refresh_after_a_401_survives_a_failing_token_endpoint(
    status: int,
    mailbox: FakeMailbox,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    gmail = token_endpoint_client(mailbox, http, clock, tmp_path)
    added = mailbox.add_synthetic_messages(5)
    await gmail.get_profile()  # the first token, before anything fails
    mailbox.inject(401, method="messages.get", message_id=added[2].id)
    mailbox.inject(status, method="token")

    results = await gmail.get_messages([m.id for m in added])

    assert [ok(r)["id"] for r in results] == [m.id for m in added]
    # The initial token, the refresh answered `status`, the refresh retried after a backoff.
    assert mailbox.calls["token"] == 3
    assert len([s for s in clock.sleeps if s > 0.001]) == 1  # (pacing sleeps are microseconds)
    assert mailbox.calls["messages.get"] == 6


async def test_a_refresh_that_times_out_once_is_retried(
    mailbox: FakeMailbox, clock: FakeClock, tmp_path: Path
) -> None:
    transport = TokenTimeouts(httpx.ASGITransport(app=mailbox.app), timeouts=1)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        gmail = token_endpoint_client(mailbox, http, clock, tmp_path)
        added = mailbox.add_synthetic_messages(4)
        mailbox.inject(401, method="messages.get", message_id=added[0].id)

        results = await gmail.get_messages([m.id for m in added])

    assert all(isinstance(r, dict) for r in results)
    assert transport.token_posts == 3
    assert mailbox.calls["token"] == 2  # the one that timed out never arrived


async def test_a_token_endpoint_down_for_good_fails_after_max_attempts_not_more(
    mailbox: FakeMailbox, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    gmail = token_endpoint_client(mailbox, http, clock, tmp_path)
    added = mailbox.add_synthetic_messages(3)
    await gmail.get_profile()
    mailbox.inject(401, method="messages.get", message_id=added[1].id)
    mailbox.inject(503, method="token", times=100)

    with pytest.raises(GmailError) as raised:
        await gmail.get_messages([m.id for m in added])

    assert "token endpoint failed (HTTP 503)" in raised.value.message
    assert "gave up after 6 attempts" in raised.value.message
    assert raised.value.permanent
    assert mailbox.calls["token"] == 1 + 6
