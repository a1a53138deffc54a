"""The admin controls of a real mailbox on top of the fake: what a person does in Gmail.

Each action changes the mailbox the way Gmail does and records the history Gmail would: one
history record per action (a label edit that adds and removes is one record carrying both
`labelsAdded` and `labelsRemoved`, like users.messages.modify), stubs with the message's
labels as of that record.

    report_spam / not_spam    "Report spam" (+SPAM −INBOX) and "Not spam" (−SPAM +INBOX)
    trash / untrash           move to the bin (+TRASH −INBOX) and "Move to inbox" (−TRASH +INBOX)
    deliver                   new mail, e.g. straight into SPAM (labels=["SPAM"])
    delete                    delete for ever (messageDeleted)
    modify                    any label edit (one record)

`fail_raw_get` makes the body download (format raw) of one message fail while cheaper looks
at it (format minimal) still answer, e.g. to stop a sync half-way through its downloads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.gmail import FakeMailbox, Handler
from tests.fakes.gmail_wire import FakeMessage, HistoryRecord, error_body


@dataclass
class ModifyRecord(HistoryRecord):
    """One history record for a label edit that both adds and removes labels."""

    removed: list[str] = field(default_factory=list)

    def render(self) -> dict[str, Any]:
        stub = {"id": self.message["id"], "threadId": self.message["threadId"]}
        result: dict[str, Any] = {"id": str(self.id), "messages": [stub]}
        if self.label_ids:
            result["labelsAdded"] = [{"message": self.message, "labelIds": self.label_ids}]
        if self.removed:
            result["labelsRemoved"] = [{"message": self.message, "labelIds": self.removed}]
        return result


@dataclass
class RawFault:
    message_id: str
    status: int
    reason: str | None
    times: int


class AdminMailbox(FakeMailbox):
    """A FakeMailbox that a test can use like the mailbox's owner (module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.raw_faults: list[RawFault] = []

    def deliver(
        self, raw: bytes | None = None, *, labels: Iterable[str] = ("INBOX", "UNREAD"), **kw: Any
    ) -> FakeMessage:
        return self.add_message(raw, labels=labels, **kw)

    def delete(self, message_id: str) -> None:
        self.delete_message(message_id)

    def report_spam(self, message_id: str) -> None:
        self.modify(message_id, add=["SPAM"], remove=["INBOX"])

    def not_spam(self, message_id: str) -> None:
        self.modify(message_id, add=["INBOX"], remove=["SPAM"])

    def trash(self, message_id: str) -> None:
        self.modify(message_id, add=["TRASH"], remove=["INBOX"])

    def untrash(self, message_id: str) -> None:
        self.modify(message_id, add=["INBOX"], remove=["TRASH"])

    def modify(
        self, message_id: str, *, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None:
        """Add and remove labels in one change (one history record; none if nothing changed)."""
        with self._lock:
            message = self.messages[message_id]
            added = [label for label in dict.fromkeys(add) if label not in message.label_ids]
            removed = [label for label in dict.fromkeys(remove) if label in message.label_ids]
            if not added and not removed:
                return
            message.label_ids = [lb for lb in message.label_ids if lb not in removed] + added
            self.history_id += 1
            message.history_id = self.history_id
            kind = "labelAdded" if added else "labelRemoved"
            self.history.append(
                ModifyRecord(self.history_id, kind, message.ref(), added, removed=removed)
            )

    def visible(self) -> dict[str, FakeMessage]:
        """What messages.list shows without includeSpamTrash."""
        return {
            mid: m for mid, m in self.messages.items() if not {"SPAM", "TRASH"} & set(m.label_ids)
        }

    def fail_raw_get(
        self, message_id: str, status: int, *, reason: str | None = None, times: int = 1
    ) -> None:
        with self._lock:
            self.raw_faults.append(RawFault(message_id, status, reason, times))

    def _respond(self, method: str, handler: Handler, request: Request) -> Response:
        if method == "messages.get" and request.query_params.get("format") == "raw":
            with self._lock:
                for fault in self.raw_faults:
                    if fault.times > 0 and fault.message_id == request.path_params.get("id"):
                        fault.times -= 1
                        self.calls[method] += 1
                        body = error_body(fault.status, None, fault.reason)
                        return JSONResponse(body, fault.status)
        return super()._respond(method, handler, request)
