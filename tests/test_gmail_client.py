"""GmailClient against the in-process Gmail fake: wire format, pagination, errors, tokens."""

from __future__ import annotations

import asyncio
import base64
import random
from pathlib import Path

import httpx
import pytest

from leadflow.sync.gmail import (
    GmailAuthError,
    GmailBadRequest,
    GmailClient,
    GmailNotFound,
    GmailPermissionError,
    create_http_client,
    decode_raw,
)
from leadflow.sync.gmail.auth import load_credentials
from tests.fakes.clock import FakeClock
from tests.fakes.fixtures import FAKE_GMAIL_BASE
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_server import serve_in_thread, write_credentials
from tests.fakes.gmail_tokens import IssuerTokens
from tests.fakes.gmail_wire import make_raw_email

BASE = FAKE_GMAIL_BASE


@pytest.fixture
def tokens(mailbox: FakeMailbox) -> IssuerTokens:
    return IssuerTokens(mailbox.tokens)


@pytest.fixture
def gmail(
    mailbox: FakeMailbox, http: httpx.AsyncClient, tokens: IssuerTokens, clock: FakeClock
) -> GmailClient:
    return GmailClient(
        base_url=BASE,
        user=mailbox.email,
        http=http,
        credentials=tokens,
        clock=clock,
        rng=random.Random(7),
        wall_clock=clock.wall,
    )


async def test_it_reads_the_profile(gmail: GmailClient, mailbox: FakeMailbox) -> None:
    mailbox.add_synthetic_messages(4)

    profile = await gmail.get_profile()

    assert profile["emailAddress"] == "info@rendetalje.dk"
    assert profile["messagesTotal"] == 4
    assert profile["historyId"] == str(mailbox.history_id)
    assert gmail.stats.api_calls == 1
    assert gmail.stats.units_used == 1


async def test_it_pages_through_every_message_newest_first(
    gmail: GmailClient, mailbox: FakeMailbox
) -> None:
    added = mailbox.add_synthetic_messages(12)
    seen: list[str] = []
    page_token: str | None = None
    pages = 0
    while True:
        page = await gmail.list_messages(page_token=page_token, max_results=5)
        pages += 1
        assert page["resultSizeEstimate"] == 12
        seen += [m["id"] for m in page["messages"]]
        assert all(set(m) == {"id", "threadId"} for m in page["messages"])
        page_token = page.get("nextPageToken")
        if page_token is None:
            break

    assert pages == 3
    assert seen == [m.id for m in reversed(added)]
    assert gmail.stats.units_used == 15


async def test_a_deletion_between_pages_skips_no_other_message(
    gmail: GmailClient, mailbox: FakeMailbox
) -> None:
    added = mailbox.add_synthetic_messages(6)
    first = await gmail.list_messages(max_results=3)
    mailbox.delete_message(first["messages"][0]["id"])
    mailbox.add_synthetic_messages(2)

    second = await gmail.list_messages(page_token=first["nextPageToken"], max_results=3)

    assert [m["id"] for m in second["messages"]] == [m.id for m in reversed(added[:3])]


async def test_spam_and_trash_are_listed_only_when_asked(
    gmail: GmailClient, mailbox: FakeMailbox
) -> None:
    inbox = mailbox.add_message(labels=["INBOX", "CATEGORY_UPDATES"])
    spam = mailbox.add_message(labels=["SPAM"])

    default = await gmail.list_messages()
    everything = await gmail.list_messages(include_spam_trash=True)
    by_label = await gmail.list_messages(query="label:category_updates")

    assert [m["id"] for m in default["messages"]] == [inbox.id]
    assert {m["id"] for m in everything["messages"]} == {inbox.id, spam.id}
    assert [m["id"] for m in by_label["messages"]] == [inbox.id]


async def test_an_empty_mailbox_lists_no_messages_key(gmail: GmailClient) -> None:
    page = await gmail.list_messages()

    assert page == {"resultSizeEstimate": 0}


async def test_a_raw_message_decodes_to_the_original_bytes(
    gmail: GmailClient, mailbox: FakeMailbox
) -> None:
    raw = make_raw_email(
        subject="Flytterengøring – pris?",
        body="Hej Rendetalje, hvad koster 85 m²? Mvh Åse",
        attachments=[("plantegning.pdf", "application/pdf", b"%PDF-1.4 \xff\xfe" * 50)],
    )
    stored = mailbox.add_message(raw, labels=["INBOX"])

    message = await gmail.get_message(stored.id)

    assert decode_raw(message) == raw
    assert message["threadId"] == stored.thread_id
    assert message["labelIds"] == ["INBOX"]
    assert message["internalDate"] == str(stored.internal_date)
    assert message["sizeEstimate"] == len(raw)


def test_decode_raw_tolerates_missing_padding() -> None:
    data = b"From: a@example.net\r\n\r\nhi?>"
    unpadded = base64.urlsafe_b64encode(data).decode().rstrip("=")

    assert decode_raw({"raw": unpadded}) == data
    with pytest.raises(ValueError, match="raw"):
        decode_raw({"id": "x"})


async def test_full_format_carries_the_mime_tree_with_base64url_bodies(
    gmail: GmailClient, mailbox: FakeMailbox
) -> None:
    raw = make_raw_email(body="Tekst", html_body="<p>Tekst</p>")
    stored = mailbox.add_message(raw)

    message = await gmail.get_message(stored.id, format="full")

    payload = message["payload"]
    assert payload["mimeType"] == "multipart/alternative"
    plain = payload["parts"][0]
    assert plain["mimeType"] == "text/plain"
    assert base64.urlsafe_b64decode(plain["body"]["data"]).strip() == b"Tekst"
    assert "raw" not in message


async def test_history_pages_list_every_change_since_the_start_id(
    gmail: GmailClient, mailbox: FakeMailbox
) -> None:
    old = mailbox.add_message()
    start = str(mailbox.history_id)
    new = mailbox.add_message()
    mailbox.relabel(old.id, add=["STARRED"], remove=["UNREAD"])
    mailbox.delete_message(new.id)

    records: list[dict[str, object]] = []
    page_token: str | None = None
    while True:
        page = await gmail.list_history(
            start_history_id=start, page_token=page_token, max_results=2
        )
        records += page.get("history", [])
        assert page["historyId"] == str(mailbox.history_id)
        page_token = page.get("nextPageToken")
        if page_token is None:
            break

    kinds = [next(k for k in r if k not in {"id", "messages"}) for r in records]
    assert kinds == ["messagesAdded", "labelsAdded", "labelsRemoved", "messagesDeleted"]
    assert records[1]["labelsAdded"] == [
        {
            "message": {
                "id": old.id,
                "threadId": old.id,
                "labelIds": ["INBOX", "UNREAD", "STARRED"],
            },
            "labelIds": ["STARRED"],
        }
    ]
    assert gmail.stats.units_used == 2 * 2


async def test_history_can_be_filtered_by_type(gmail: GmailClient, mailbox: FakeMailbox) -> None:
    start = str(mailbox.history_id)
    message = mailbox.add_message()
    mailbox.relabel(message.id, add=["IMPORTANT"])

    page = await gmail.list_history(start_history_id=start, history_types=["messageAdded"])

    assert [r["messagesAdded"][0]["message"]["id"] for r in page["history"]] == [message.id]


async def test_history_older_than_gmail_keeps_raises_not_found(
    gmail: GmailClient, mailbox: FakeMailbox
) -> None:
    start = str(mailbox.history_id)
    mailbox.add_synthetic_messages(3)
    mailbox.expire_history(before=mailbox.history_id)

    with pytest.raises(GmailNotFound) as caught:
        await gmail.list_history(start_history_id=start)

    assert caught.value.status == 404
    assert caught.value.permanent
    assert mailbox.calls["history.list"] == 1
    assert (await gmail.list_history(start_history_id=str(mailbox.history_id - 1)))["history"]


async def test_a_deleted_message_raises_not_found_without_retrying(
    gmail: GmailClient, mailbox: FakeMailbox
) -> None:
    message = mailbox.add_message()
    mailbox.delete_message(message.id)

    with pytest.raises(GmailNotFound):
        await gmail.get_message(message.id)

    assert mailbox.calls["messages.get"] == 1
    assert (gmail.stats.failures, gmail.stats.retries) == (1, 0)


async def test_a_bad_request_raises_bad_request(gmail: GmailClient) -> None:
    with pytest.raises(GmailBadRequest, match="Invalid id value") as caught:
        await gmail.get_message("not-a-gmail-id")

    assert caught.value.permanent


async def test_a_token_without_the_readonly_scope_raises_a_permission_error(
    mailbox: FakeMailbox, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    tokens = IssuerTokens(mailbox.tokens, frozenset({"https://www.googleapis.com/auth/drive"}))
    gmail = GmailClient(
        base_url=BASE, user="me", http=http, credentials=tokens, clock=clock, wall_clock=clock.wall
    )

    with pytest.raises(GmailPermissionError, match=r"gmail\.readonly") as caught:
        await gmail.get_profile()

    assert caught.value.reason == "insufficientPermissions"
    assert mailbox.calls["getProfile"] == 1


async def test_a_domain_policy_refusal_names_domain_wide_delegation(
    gmail: GmailClient, mailbox: FakeMailbox
) -> None:
    mailbox.inject(403, reason="domainPolicy", message="The domain administrators disabled it")

    with pytest.raises(GmailPermissionError, match="domain-wide delegation"):
        await gmail.get_profile()


async def test_it_refreshes_the_token_once_after_a_401(
    gmail: GmailClient, mailbox: FakeMailbox, tokens: IssuerTokens
) -> None:
    mailbox.inject(401, method="getProfile")

    profile = await gmail.get_profile()

    assert profile["emailAddress"] == mailbox.email
    assert tokens.refreshes == 1
    assert (gmail.stats.api_calls, gmail.stats.retries, gmail.stats.failures) == (2, 1, 0)


async def test_an_expired_token_is_replaced_after_gmail_refuses_it(
    gmail: GmailClient, mailbox: FakeMailbox, tokens: IssuerTokens, clock: FakeClock
) -> None:
    await gmail.get_profile()
    clock.advance(mailbox.tokens.lifetime + 1)

    await gmail.get_profile()

    assert tokens.refreshes == 1


async def test_a_refresh_meeting_a_503_retries_the_token_endpoint_not_the_call(
    mailbox: FakeMailbox, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials.json"
    write_credentials(mailbox, BASE, credentials)
    gmail = GmailClient(
        base_url=BASE,
        user=mailbox.email,
        http=http,
        credentials=load_credentials(credentials, user=mailbox.email, http=http),
        clock=clock,
        rng=random.Random(7),
        wall_clock=clock.wall,
    )
    await gmail.get_profile()
    mailbox.tokens.revoke_all()  # Gmail stops accepting the cached token
    mailbox.inject(503, method="token")

    profile = await gmail.get_profile()

    assert profile["emailAddress"] == mailbox.email
    # One 401, one refresh answered 503 and retried, one call with the new token: Gmail is
    # not asked again with the token it already refused.
    assert mailbox.calls["getProfile"] == 3
    assert mailbox.calls["token"] == 3
    assert (gmail.stats.api_calls, gmail.stats.failures) == (3, 0)


async def test_a_second_401_raises_auth_error_asking_to_reauthorise(
    gmail: GmailClient, mailbox: FakeMailbox, tokens: IssuerTokens
) -> None:
    mailbox.inject(401, times=5)

    with pytest.raises(GmailAuthError, match="leadflow gmail authorize") as caught:
        await gmail.get_profile()

    assert caught.value.permanent
    assert tokens.refreshes == 1
    assert mailbox.calls["getProfile"] == 2
    assert gmail.stats.failures == 1


async def test_error_messages_never_contain_the_access_token(
    gmail: GmailClient, mailbox: FakeMailbox, tokens: IssuerTokens
) -> None:
    mailbox.inject(401, times=2)
    mailbox.inject(403, reason="insufficientPermissions")

    for _ in range(2):
        with pytest.raises((GmailAuthError, GmailPermissionError)) as caught:
            await gmail.get_profile()
        token = await tokens.token()
        assert token not in str(caught.value)
        assert "ya29" not in repr(caught.value.args)


async def test_a_request_for_another_user_is_refused(
    mailbox: FakeMailbox, http: httpx.AsyncClient, tokens: IssuerTokens, clock: FakeClock
) -> None:
    gmail = GmailClient(
        base_url=BASE, user="someone@example.org", http=http, credentials=tokens, clock=clock
    )

    with pytest.raises(GmailPermissionError):
        await gmail.get_profile()


async def test_concurrent_calls_never_exceed_the_concurrency_limit(
    mailbox: FakeMailbox, tokens: IssuerTokens, clock: FakeClock
) -> None:
    messages = mailbox.add_synthetic_messages(30)
    in_flight = 0
    peak = 0

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(20):  # yield so that other requests can start meanwhile
            await asyncio.sleep(0)
        try:
            await mailbox.app(scope, receive, send)  # type: ignore[arg-type]
        finally:
            in_flight -= 1

    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport) as http:
        gmail = GmailClient(
            base_url=BASE,
            user="me",
            http=http,
            credentials=tokens,
            clock=clock,
            concurrency=4,
            units_per_second=1e9,  # quota pacing out of the way: the semaphore alone limits
        )
        got = await asyncio.gather(*(gmail.get_message(m.id) for m in messages))

    assert {m["id"] for m in got} == {m.id for m in messages}
    assert peak == 4


async def test_the_fake_also_serves_real_http_with_credentials_for_end_to_end_tests(
    tmp_path: Path,
) -> None:
    mailbox = FakeMailbox()
    added = mailbox.add_synthetic_messages(3)
    with serve_in_thread(mailbox) as base_url:
        write_credentials(mailbox, base_url, tmp_path / "gmail.json")
        async with create_http_client() as http:
            tokens = load_credentials(tmp_path / "gmail.json", user=mailbox.email, http=http)
            gmail = GmailClient(
                base_url=base_url, user=mailbox.email, http=http, credentials=tokens
            )
            page = await gmail.list_messages()
            raw = decode_raw(await gmail.get_message(added[0].id))

    assert [m["id"] for m in page["messages"]] == [m.id for m in reversed(added)]
    assert raw == added[0].raw
    assert mailbox.calls["token"] == 1
