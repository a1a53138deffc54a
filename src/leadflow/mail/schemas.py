"""Thread and message API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from leadflow.api.bounds import Id
from leadflow.api.page_json import json_fields
from leadflow.models import Direction, EmailThread


class ThreadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    mailbox_id: int
    gmail_thread_id: str
    customer_id: int | None
    subject: str | None
    snippet: str | None
    participants: list[str]
    labels: list[str]
    message_count: int
    last_message_at: datetime | None
    is_matched: bool
    matched_at: datetime | None
    matched_by: str | None
    confidence: float | None
    match_note: str | None
    created_at: datetime
    updated_at: datetime


THREAD_FIELDS = json_fields(ThreadOut, EmailThread)


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    thread_id: int
    mailbox_id: int
    gmail_message_id: str
    rfc822_message_id: str | None
    in_reply_to: str | None
    references: list[str]
    from_address: str | None
    from_name: str | None
    to_addresses: list[str]
    cc_addresses: list[str]
    reply_to_addresses: list[str]
    subject: str | None
    body_text: str | None
    body_truncated: bool
    snippet: str | None
    direction: Direction
    labels: list[str]
    has_attachments: bool
    attachments: list[dict[str, Any]]
    size_bytes: int | None
    sent_at: datetime | None
    history_id: str | None
    created_at: datetime


class ThreadDetail(ThreadOut):
    """One thread with its messages, oldest first."""

    messages: list[MessageOut]


class ThreadLink(BaseModel):
    # An unknown field is a 422 naming it, not a 2xx that silently ignored it.
    model_config = ConfigDict(extra="forbid")

    customer_id: Id
