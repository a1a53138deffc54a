"""Stored rows back to the parsed form, for processors run on demand over mail already stored."""

from __future__ import annotations

from leadflow.mail.message import Address, Attachment, ParsedMessage
from leadflow.models import EmailMessage


def message_from_row(row: EmailMessage, *, gmail_thread_id: str) -> ParsedMessage:
    """Rebuild the ParsedMessage a stored row came from (recipients lose display names)."""
    sender = Address(row.from_address, row.from_name or "") if row.from_address else None
    return ParsedMessage(
        gmail_message_id=row.gmail_message_id,
        gmail_thread_id=gmail_thread_id,
        rfc822_message_id=row.rfc822_message_id,
        in_reply_to=row.in_reply_to,
        references=tuple(row.references or ()),
        from_address=sender,
        to=tuple(Address(a) for a in row.to_addresses or ()),
        cc=tuple(Address(a) for a in row.cc_addresses or ()),
        reply_to=tuple(Address(a) for a in row.reply_to_addresses or ()),
        subject=row.subject or "",
        body_text=row.body_text or "",
        body_truncated=row.body_truncated,
        snippet=row.snippet or "",
        direction=row.direction,
        labels=tuple(row.labels or ()),
        attachments=tuple(
            Attachment(a.get("filename"), str(a.get("mime_type", "")), int(a.get("size_bytes", 0)))
            for a in row.attachments or ()
        ),
        size_bytes=row.size_bytes or 0,
        sent_at=row.sent_at,
        history_id=row.history_id,
    )
