from __future__ import annotations

import mailbox
from pathlib import Path

from leadflow.maintenance.sample_mailbox import build_sample_mailbox, bundled_mbox_path


def test_the_bundled_mailbox_is_what_the_generator_builds() -> None:
    assert bundled_mbox_path().read_bytes() == build_sample_mailbox().mbox_bytes()


def test_the_bundled_mailbox_reads_back_as_every_message(tmp_path: Path) -> None:
    box = build_sample_mailbox()
    path = tmp_path / "copy.mbox"
    path.write_bytes(box.mbox_bytes())
    mbox = mailbox.mbox(path, create=False)
    try:
        ids = [msg["Message-ID"] for msg in mbox]
    finally:
        mbox.close()
    assert ids == [m.message_id for m in box.messages]
    assert len(set(ids)) == len(ids)


def test_the_sample_holds_leads_from_every_platform_and_mail_that_is_not_a_lead() -> None:
    box = build_sample_mailbox()
    sources = {m.lead["source"] for m in box.messages if m.lead}
    assert sources == {"Rengøring.nu", "Leadpoint", "AdHelp", "Website"}
    assert any(m.lead is None and m.customer_email is None for m in box.messages)
