"""Incremental Gmail sync: history since the cursor, 404 fallback, replay after a failure."""

from __future__ import annotations

from leadflow.models import IngestMode, IngestStatus
from tests.fakes.gmail_wire import make_raw_email
from tests.sync_helpers import Harness, at, fake_contents


async def assert_mirrors_fake(harness: Harness) -> None:
    state = await harness.state()
    expected = fake_contents(harness.fake)
    assert state.message_rows == len(expected)
    assert {mid: (m["thread"], m["labels"]) for mid, m in state.messages.items()} == expected


async def test_it_applies_adds_deletes_and_label_changes_and_moves_the_cursor(
    harness: Harness,
) -> None:
    fake = harness.fake
    messages = fake.add_synthetic_messages(20, replies_every=0)
    await harness.sync()
    fake.add_synthetic_messages(5, replies_every=0)
    fake.delete_message(messages[0].id)
    fake.relabel(messages[1].id, add=["STARRED", "Label_7"], remove=["UNREAD"])
    fake.relabel(messages[2].id, add=["TRASH"], remove=["INBOX"])
    fake.relabel(messages[3].id, add=["IMPORTANT"])
    fake.relabel(messages[3].id, remove=["IMPORTANT"])

    result = await harness.sync()

    assert (result.mode, result.status) == (IngestMode.INCREMENTAL, IngestStatus.COMPLETED)
    assert result.new == 5
    # Message 1 relabelled, message 2 moved to the bin (so removed); 3 ends where it started.
    assert result.updated == 2
    assert result.total == 5 + 1 + 3
    state = await harness.state()
    assert messages[0].id not in state.messages
    assert messages[0].thread_id not in state.threads
    assert state.messages[messages[1].id]["labels"] == ["INBOX", "STARRED", "Label_7"]
    assert state.threads[messages[1].thread_id]["labels"] == ["INBOX", "Label_7", "STARRED"]
    assert messages[2].id not in state.messages
    assert (await harness.mailbox()).sync_cursor == str(fake.history_id)


async def test_a_reply_on_an_existing_thread_updates_its_aggregates(harness: Harness) -> None:
    fake = harness.fake
    first = fake.add_message(
        make_raw_email(subject="Tilbud", sender="Kunde <kunde@example.net>", date=at(2))
    )
    await harness.sync()
    fake.add_message(
        make_raw_email(
            subject="SV: Tilbud",
            sender="Rendetalje <info@rendetalje.dk>",
            to="kunde@example.net, Kollega <Kollega@Example.net>",
            date=at(5),
        ),
        thread_id=first.thread_id,
        labels=["SENT"],
    )

    await harness.sync()

    thread = (await harness.state()).threads[first.thread_id]
    assert thread["message_count"] == 2
    assert thread["last_message_at"] == at(5)
    assert thread["participants"] == [
        "kunde@example.net",
        "info@rendetalje.dk",
        "kollega@example.net",
    ]
    assert thread["labels"] == ["INBOX", "SENT", "UNREAD"]
    assert thread["subject"] == "Tilbud"


async def test_a_sync_with_nothing_new_completes_and_changes_nothing(harness: Harness) -> None:
    harness.fake.add_synthetic_messages(6)
    await harness.sync()
    before = await harness.state()

    result = await harness.sync()

    assert (result.mode, result.status, result.total, result.new) == (
        IngestMode.INCREMENTAL,
        IngestStatus.COMPLETED,
        0,
        0,
    )
    assert await harness.state() == before


async def test_expired_history_turns_into_a_full_resync_without_duplicates(
    harness: Harness,
) -> None:
    fake = harness.fake
    messages = fake.add_synthetic_messages(15)
    await harness.sync()
    cursor = (await harness.mailbox()).sync_cursor
    fake.add_synthetic_messages(4)
    fake.delete_message(messages[4].id)
    fake.relabel(messages[5].id, add=["STARRED"])
    fake.expire_history(fake.history_id)

    result = await harness.sync()

    assert (result.mode, result.status) == (IngestMode.FULL, IngestStatus.COMPLETED)
    assert result.new == 4
    run = await harness.run(result.run_id)
    assert run.mode is IngestMode.FULL
    assert run.errors == 0
    assert any(
        entry["message_id"] is None and "404" in entry["reason"] and str(cursor) in entry["reason"]
        for entry in run.error_log
    )
    await assert_mirrors_fake(harness)
    assert (await harness.mailbox()).sync_cursor == str(fake.history_id)


async def test_a_failed_incremental_sync_keeps_the_cursor_and_the_rerun_catches_up(
    harness: Harness,
) -> None:
    fake = harness.fake
    fake.add_synthetic_messages(10)
    await harness.sync()
    cursor = (await harness.mailbox()).sync_cursor
    added = fake.add_synthetic_messages(30)
    fake.delete_message(added[0].id)
    fake.fail_raw_get(added[-1].id, 403)

    failed = await harness.sync()

    assert failed.status is IngestStatus.FAILED
    assert (await harness.mailbox()).sync_cursor == cursor
    assert 10 < (await harness.state()).message_rows < 39

    rerun = await harness.sync()

    assert rerun.status is IngestStatus.COMPLETED
    await assert_mirrors_fake(harness)
    assert (await harness.mailbox()).sync_cursor == str(fake.history_id)


async def test_a_message_added_then_deleted_between_syncs_is_never_fetched(
    harness: Harness,
) -> None:
    fake = harness.fake
    fake.add_synthetic_messages(3)
    await harness.sync()
    short_lived = fake.add_message()
    fake.delete_message(short_lived.id)
    gets = fake.calls["messages.get"]

    result = await harness.sync()

    assert result.status is IngestStatus.COMPLETED
    assert fake.calls["messages.get"] == gets
    await assert_mirrors_fake(harness)


async def test_a_trashed_message_stays_out_through_a_full_resync(harness: Harness) -> None:
    messages = harness.fake.add_synthetic_messages(4)
    await harness.sync()
    harness.fake.relabel(messages[0].id, add=["TRASH"])
    await harness.sync()
    assert messages[0].id not in (await harness.state()).messages

    await harness.sync(full=True)

    await assert_mirrors_fake(harness)
