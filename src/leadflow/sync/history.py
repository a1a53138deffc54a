"""Gmail history records folded into the net change an incremental sync applies.

Records come in order; later ones win. Besides the label edits, the labels of the message as
of the last record that names it are kept (history stubs carry `labelIds`): they tell which
messages unknown to the database are hidden (spam, trash) and need not even be looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from leadflow.sync.store import LabelChange, is_hidden


@dataclass
class HistoryChanges:
    """The net effect of a run of Gmail history records (applied in record order)."""

    history_id: str
    added: dict[str, str] = field(default_factory=dict)  # message id → thread id
    deleted: set[str] = field(default_factory=set)
    labels: dict[str, list[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    latest_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def label_changes(self) -> dict[str, LabelChange]:
        return {mid: LabelChange(tuple(ops)) for mid, ops in self.labels.items()}

    @property
    def touched(self) -> int:
        return len(set(self.added) | self.deleted | set(self.labels))

    def candidates(self) -> list[str]:
        """Messages added or relabelled and not deleted since, in first-seen order."""
        return [
            mid for mid in dict.fromkeys([*self.added, *self.labels]) if mid not in self.deleted
        ]

    def maybe_visible(self, ids: Sequence[str]) -> list[str]:
        """`ids` except those whose last record showed them in spam or trash."""
        return [mid for mid in ids if not is_hidden(self.latest_labels.get(mid, ()))]


def apply_history_records(changes: HistoryChanges, records: Sequence[dict[str, Any]]) -> None:
    """Fold history records into `changes`: later records win over earlier ones."""
    for record in records:
        for entry in record.get("messagesAdded", []):
            msg = entry.get("message", {})
            if msg.get("id"):
                changes.added[msg["id"]] = str(msg.get("threadId") or msg["id"])
                changes.deleted.discard(msg["id"])
                _note_labels(changes, msg)
        for entry in record.get("messagesDeleted", []):
            mid = entry.get("message", {}).get("id")
            if mid:
                changes.deleted.add(mid)
                changes.added.pop(mid, None)
                changes.labels.pop(mid, None)
                changes.latest_labels.pop(mid, None)
        for key, op in (("labelsAdded", "add"), ("labelsRemoved", "remove")):
            for entry in record.get(key, []):
                msg = entry.get("message", {})
                mid = msg.get("id")
                if mid and mid not in changes.deleted:
                    ops = changes.labels.setdefault(mid, [])
                    ops.append((op, tuple(entry.get("labelIds", []))))
                    _note_labels(changes, msg)


def _note_labels(changes: HistoryChanges, message: dict[str, Any]) -> None:
    labels = message.get("labelIds")
    if isinstance(labels, list):
        changes.latest_labels[message["id"]] = tuple(str(label) for label in labels)
    else:  # a stub without labels: what was known before may be stale now
        changes.latest_labels.pop(message["id"], None)
