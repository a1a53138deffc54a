"""The parsed form of one email: what `mail.mime.parse_message` returns and the pipeline stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from leadflow.models import Direction


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: lower-cased address and decoded display name (may be empty)."""

    email: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """Attachment metadata only; the bytes are never stored."""

    filename: str | None
    mime_type: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """Everything leadflow keeps of one email. Built by a pure parser; never holds raw bytes."""

    gmail_message_id: str
    gmail_thread_id: str
    rfc822_message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    from_address: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    subject: str
    body_text: str
    body_truncated: bool
    snippet: str
    direction: Direction
    labels: tuple[str, ...]
    attachments: tuple[Attachment, ...]
    size_bytes: int
    sent_at: datetime | None
    history_id: str | None = None
    defects: tuple[str, ...] = field(default=())

    @property
    def participants(self) -> tuple[str, ...]:
        """Every distinct address on the message (from, to, cc, reply-to), first seen first."""
        seen: dict[str, None] = {}
        for addr in (self.from_address, *self.to, *self.cc, *self.reply_to):
            if addr is not None and addr.email:
                seen.setdefault(addr.email, None)
        return tuple(seen)
