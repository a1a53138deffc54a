"""What a fresh parse may change on a stored lead (pure): fill what is missing, fix what the
parser wrote, never touch what a person wrote.

A stored lead keeps `parsed`, a snapshot of what the parser read when the lead was made (or last
repaired), and `edited_fields`, the fields a person set through the API. A field may be changed
by a new parse when no person has edited it and either it is empty, or its value is still the
parser's own (equal to the snapshot). Leads without a snapshot (made before the snapshot existed)
only get their empty fields filled: nothing tells their parsed values from typed ones. A new
parse never empties a field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from leadflow.leads.parsers import ParsedLead

REPAIRABLE = (
    "name",
    "email",
    "phone",
    "address",
    "postal_code",
    "city",
    "square_meters",
    "rooms",
    "floor",
    "property_type",
    "task_type",
    "contact_type",
    "preferred_date",
    "preferred_date_text",
    "message",
    "details",
)
"""Lead columns a parse fills. `source` and `received_at` stay as first stored (duplicate order)."""

SNAPSHOT_FIELDS = (*REPAIRABLE, "source", "received_at", "needs_review")


def to_json(value: Any) -> Any:
    """A column value as stored in the JSON snapshot (dates as ISO text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    return value


def snapshot(lead: ParsedLead) -> dict[str, Any]:
    """The parser's output as it is kept on the lead (`Lead.parsed`)."""
    return {name: to_json(getattr(lead, name)) for name in SNAPSHOT_FIELDS}


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == ""


def _same_as_parsed(name: str, now: Any, parsed_before: Mapping[str, Any] | None) -> bool:
    return (
        parsed_before is not None and name in parsed_before and parsed_before[name] == to_json(now)
    )


@dataclass
class Repair:
    """The column changes for one lead, and which fields were filled, corrected or kept."""

    changes: dict[str, Any] = field(default_factory=dict)
    filled: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    kept_edited: list[str] = field(default_factory=list)


def plan_repair(
    current: Mapping[str, Any],
    *,
    parsed_before: Mapping[str, Any] | None,
    edited: Sequence[str],
    new: ParsedLead,
) -> Repair:
    """Return what `new` changes on a lead whose columns are `current`."""
    repair = Repair()
    for name in REPAIRABLE:
        value, now = getattr(new, name), current.get(name)
        if _empty(value) or to_json(value) == to_json(now):
            continue
        if name in edited:
            repair.kept_edited.append(name)
        elif name == "details" and not _same_as_parsed(name, now, parsed_before):
            # Answers are added by label; one already stored is never replaced.
            merged = {**value, **(now or {})}
            if merged != now:
                repair.changes[name] = merged
                repair.filled.append(name)
        elif _empty(now):
            repair.changes[name] = value
            repair.filled.append(name)
        elif _same_as_parsed(name, now, parsed_before):
            repair.changes[name] = value
            repair.corrected.append(name)
    if "needs_review" not in edited and current.get("needs_review"):
        # The flag means "no way to reach the customer"; a repaired email or phone clears it.
        email = repair.changes.get("email", current.get("email"))
        phone = repair.changes.get("phone", current.get("phone"))
        if email is not None or phone is not None:
            repair.changes["needs_review"] = False
    return repair
