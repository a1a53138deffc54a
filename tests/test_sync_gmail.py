"""Full Gmail sync against the in-process fake: exactly once, resumable, errors recorded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from leadflow.models import IngestMode, IngestStatus
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_admin import AdminMailbox
from tests.sync_helpers import Harness, fake_contents


def stored_like_fake(state: Any, fake: FakeMailbox) -> None:
    expected = fake_contents(fake)
    assert state.message_rows == len(expected)
    assert {mid: (m["thread"], m["labels"]) for mid, m in state.messages.items()} == expected


async def test_a_full_sync_stores_every_message_once_and_sets_the_cursor(
    harness: Harness,
) -> None:
    harness.fake.add_synthetic_messages(40, replies_every=3)
    harness.fake.add_message(labels=["SPAM"])  # not listed: spam stays out

    result = await harness.sync()

    assert (result.mode, result.status) == (IngestMode.FULL, IngestStatus.COMPLETED)
    assert (result.total, result.new, result.updated, result.errors) == (40, 40, 0, 0)
    stored_like_fake(await harness.state(), harness.fake)
    box = await harness.mailbox()
    assert box.sync_cursor == str(harness.fake.history_id)
    assert box.last_sync_succeeded_at is not None
    assert box.lease_owner is None
    run = await harness.run(result.run_id)
    assert run.finished_at is not None
    assert (
        run.api_calls
        == result.api_calls
        == sum(n for method, n in harness.fake.calls.items() if method != "token")
    )
    threads = (await harness.state()).threads
    assert sum(t["message_count"] for t in threads.values()) == 40


async def test_a_second_full_sync_changes_nothing(harness: Harness) -> None:
    harness.fake.add_synthetic_messages(25)
    await harness.sync()
    before = await harness.state()
    gets_before = harness.fake.calls["messages.get"]

    again = await harness.sync(full=True)

    assert (again.total, again.new, again.updated, again.status) == (
        25,
        0,
        0,
        IngestStatus.COMPLETED,
    )
    assert await harness.state() == before
    # Stored messages are not downloaded again (only their labels are re-read, format minimal).
    assert harness.fake.calls["messages.get"] - gets_before == 25


async def test_a_message_arriving_during_the_listing_is_picked_up_by_the_next_sync(
    harness: Harness,
) -> None:
    fake = harness.fake
    fake.add_synthetic_messages(520, replies_every=0)  # two list pages
    late: list[str] = []
    app = fake.app

    async def arrive_on_second_page(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        paging = scope["type"] == "http" and b"pageToken" in scope.get("query_string", b"")
        if paging and scope["path"].endswith("/messages") and not late:
            late.append(fake.add_message().id)
        await app(scope, receive, send)

    fake.app = arrive_on_second_page  # type: ignore[assignment]
    first = await harness.sync()
    fake.app = app

    assert len(late) == 1
    assert late[0] not in (await harness.state()).messages
    assert first.new == 520
    second = await harness.sync()

    assert second.mode is IngestMode.INCREMENTAL
    assert second.new == 1
    stored_like_fake(await harness.state(), fake)


async def test_a_sync_that_failed_half_way_resumes_without_fetching_twice(
    harness: Harness,
) -> None:
    fake = harness.fake
    assert isinstance(fake, AdminMailbox)
    messages = fake.add_synthetic_messages(60)
    # Listing is newest first: this message's download comes after several committed batches.
    fake.fail_raw_get(messages[5].id, 403, reason="insufficientPermissions")

    failed = await harness.sync()

    assert failed.status is IngestStatus.FAILED
    assert "scope" in (failed.error or "")
    stored_first = set((await harness.state()).messages)
    assert 0 < len(stored_first) < 60
    box = await harness.mailbox()
    assert box.sync_cursor is None
    assert "scope" in (box.last_error or "")
    gets = harness.fake.calls["messages.get"]

    resumed = await harness.sync()

    assert resumed.status is IngestStatus.COMPLETED
    assert resumed.new == 60 - len(stored_first)
    # Each listed message is looked at (format minimal); only the missing ones downloaded.
    assert harness.fake.calls["messages.get"] - gets == 60 + 60 - len(stored_first)
    stored_like_fake(await harness.state(), harness.fake)
    assert (await harness.mailbox()).last_error is None


async def test_a_message_deleted_before_it_is_fetched_is_skipped_and_logged(
    harness: Harness,
) -> None:
    messages = harness.fake.add_synthetic_messages(10)
    gone = messages[3].id
    harness.fake.inject(404, method="messages.get", message_id=gone)

    result = await harness.sync()

    assert result.status is IngestStatus.PARTIAL
    assert (result.new, result.errors) == (9, 1)
    run = await harness.run(result.run_id)
    assert run.errors == 1
    assert run.error_log[0]["message_id"] == gone
    assert "404" in run.error_log[0]["reason"]
    assert gone not in (await harness.state()).messages


async def test_a_refused_message_is_recorded_and_the_sync_goes_on(harness: Harness) -> None:
    messages = harness.fake.add_synthetic_messages(10)
    refused = messages[7].id
    harness.fake.inject(400, method="messages.get", message_id=refused, message="Invalid id")

    result = await harness.sync()

    run = await harness.run(result.run_id)
    assert result.status is IngestStatus.PARTIAL
    assert result.new == 9
    assert [entry["message_id"] for entry in run.error_log] == [refused]
    assert "HTTP 400" in run.error_log[0]["reason"]
    assert "Invalid id" in run.error_log[0]["reason"]


async def test_refused_credentials_fail_the_run_with_a_reauthorise_hint(
    harness: Harness,
) -> None:
    harness.fake.add_synthetic_messages(5)
    harness.fake.inject(401, times=5)

    result = await harness.sync()

    assert result.status is IngestStatus.FAILED
    assert "leadflow gmail authorize" in (result.error or "")
    run = await harness.run(result.run_id)
    assert run.status is IngestStatus.FAILED
    assert run.finished_at is not None
    assert run.error_log[-1]["reason"] == result.error
    box = await harness.mailbox()
    assert box.last_error == result.error
    assert box.lease_owner is None
    assert (await harness.state()).message_rows == 0


async def test_transient_failures_are_retried_and_counted_in_the_run(harness: Harness) -> None:
    messages = harness.fake.add_synthetic_messages(8)
    harness.fake.inject(503, method="messages.get", message_id=messages[2].id, times=2)
    harness.fake.inject(429, method="messages.list")

    result = await harness.sync()

    assert (result.status, result.new) == (IngestStatus.COMPLETED, 8)
    run = await harness.run(result.run_id)
    assert run.retries == 3
    # profile, list (once throttled), looks at each message (two failed), downloads
    assert run.api_calls == 1 + 2 + 10 + 8


async def test_a_full_resync_removes_messages_that_are_gone_and_refreshes_labels(
    harness: Harness,
) -> None:
    messages = harness.fake.add_synthetic_messages(12)
    await harness.sync()
    # Whatever history recorded is ignored by a full sync: only the listing counts.
    harness.fake.delete_message(messages[0].id)
    harness.fake.relabel(messages[1].id, add=["STARRED"], remove=["UNREAD"])

    result = await harness.sync(full=True)

    assert result.status is IngestStatus.COMPLETED
    stored_like_fake(await harness.state(), harness.fake)


async def test_a_message_whose_retries_run_out_once_gets_a_second_round(
    harness: Harness,
) -> None:
    harness.fake.add_synthetic_messages(10)
    unlucky = sorted(harness.fake.messages)[3]
    attempts = harness.settings.gmail_max_attempts
    harness.fake.inject(503, method="messages.get", message_id=unlucky, times=attempts)

    result = await harness.sync()

    assert (result.status, result.new, result.errors) == (IngestStatus.COMPLETED, 10, 0)
    stored_like_fake(await harness.state(), harness.fake)


async def test_a_message_failing_both_rounds_fails_the_run_and_loses_nothing(
    harness: Harness,
) -> None:
    harness.fake.add_synthetic_messages(10)
    unlucky = sorted(harness.fake.messages)[3]
    attempts = harness.settings.gmail_max_attempts
    harness.fake.inject(503, method="messages.get", message_id=unlucky, times=2 * attempts)

    failed = await harness.sync()
    assert failed.status == IngestStatus.FAILED
    assert (await harness.mailbox()).sync_cursor is None

    rerun = await harness.sync()
    assert rerun.status == IngestStatus.COMPLETED
    stored_like_fake(await harness.state(), harness.fake)
