"""The booking form: local date and times (Europe/Copenhagen) ↔ the API's booking models.

The owner types a date and wall-clock times; `read_times` turns them into UTC moments (a time
the clocks skip is an error on its field), and the rest of the form goes through the API's own
`BookingCreate` / `BookingUpdate`, so the rules are the API's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from leadflow.calendar_bounds import within
from leadflow.dashboard.web.calendar import local_moment
from leadflow.dashboard.web.forms import FieldErrors, optional, row_id, text
from leadflow.dashboard.web.labels import N_

TIME_FIELDS = ("start_date", "start_clock", "end_date", "end_clock")
TEXT_FIELDS = ("team", "service_type", "address", "notes", "status", "lead_id")
# The edit form carries the values it was rendered with under this prefix, so a save sends only
# what the owner changed: a concurrent change to another field (API, another browser) is kept.
ORIGINAL = "original_"
EDIT_FIELDS = (*TIME_FIELDS, "team", "service_type", "address", "notes", "lead_id")
BAD_DATE = N_("Enter a date like 2026-12-01, between the years 1970 and 2100.")
BAD_CLOCK = N_("Enter a time like 09:30.")
SKIPPED = N_("That time does not exist on this day: the clocks are put forward.")
END_BEFORE_START = N_("The end must be after the start.")


@dataclass(frozen=True)
class Times:
    start: datetime
    end: datetime


def form_values(form: FormData) -> dict[str, str]:
    """What the owner typed, to show again in the form."""
    return {name: text(form, name) for name in (*TIME_FIELDS, *TEXT_FIELDS, "customer_id")}


def values_of(*, start: datetime, end: datetime, tz: ZoneInfo, **fields: Any) -> dict[str, str]:
    """A booking's form values: local dates and times, other fields as text."""
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    values = {
        "start_date": local_start.date().isoformat(),
        "start_clock": local_start.strftime("%H:%M"),
        "end_date": local_end.date().isoformat(),
        "end_clock": local_end.strftime("%H:%M"),
    }
    for name, value in fields.items():
        values[name] = "" if value is None else str(value)
    return values


def _date(raw: str) -> date | None:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    # The years a booking may lie in (the API's bounds), not the wider ones the calendar shows.
    return day if within(day) else None


def _clock(raw: str) -> time | None:
    try:
        return time.fromisoformat(raw) if len(raw) <= 8 else None
    except ValueError:
        return None


def read_times(values: dict[str, str], tz: ZoneInfo) -> tuple[Times | None, FieldErrors]:
    """The start and end in UTC from the form's local date and times, or the fields' errors.

    The end date defaults to the start date.
    """
    errors: FieldErrors = {}
    start_day = _date(values.get("start_date", ""))
    end_day = _date(values.get("end_date", "")) if values.get("end_date") else start_day
    start_clock = _clock(values.get("start_clock", ""))
    end_clock = _clock(values.get("end_clock", ""))
    if start_day is None:
        errors["start_date"] = BAD_DATE
    if end_day is None and values.get("end_date"):
        errors["end_date"] = BAD_DATE
    if start_clock is None:
        errors["start_clock"] = BAD_CLOCK
    if end_clock is None:
        errors["end_clock"] = BAD_CLOCK
    if errors or start_day is None or end_day is None or start_clock is None or end_clock is None:
        return None, errors
    start = local_moment(start_day, start_clock, tz)
    end = local_moment(end_day, end_clock, tz)
    if start is None:
        errors["start_clock"] = SKIPPED
    if end is None:
        errors["end_clock"] = SKIPPED
    if start is None or end is None:
        return None, errors
    if end <= start:
        return None, {"end_clock": END_BEFORE_START}
    return Times(start, end), {}


def body(values: dict[str, str], times: Times, *, creating: bool) -> dict[str, Any]:
    """The API request body for these form values (emptied optional fields are cleared)."""
    data: dict[str, Any] = {
        "start_time": times.start,
        "end_time": times.end,
        "team": values.get("team") or "default",
        "service_type": values.get("service_type") or None,
        "address": values.get("address") or None,
        "notes": values.get("notes") or None,
        # An id no row can have is sent as 0: the service names the field (no such lead).
        "lead_id": (row_id(values["lead_id"]) or 0) if values.get("lead_id") else None,
    }
    if creating:
        data["customer_id"] = values.get("customer_id") or None
        data["status"] = values.get("status") or "scheduled"
    return data


def optional_int(form: FormData, name: str) -> int | None:
    raw = optional(form, name)
    return int(raw) if raw is not None and raw.isdigit() else None


def original_values(form: FormData) -> dict[str, str]:
    """The values the edit form was rendered with (absent when the form carries none)."""
    return {name: text(form, ORIGINAL + name) for name in EDIT_FIELDS if ORIGINAL + name in form}


def _as_shown(fields: dict[str, str]) -> dict[str, str]:
    """The form leaves the end date empty when the booking ends the day it starts: an empty
    end date is the start date (else every save of such a booking sent its times again, and
    undid a reschedule made meanwhile, or moved it by the repeated hour of a DST change)."""
    shown = dict(fields)
    if not shown.get("end_date"):
        shown["end_date"] = shown.get("start_date", "")
    return shown


def changes_only(
    data: dict[str, Any], values: dict[str, str], original: dict[str, str]
) -> dict[str, Any]:
    """`data` (from `body`) without the fields the owner left as the form showed them.

    The times go as a pair when any of the four time fields changed. A field without an
    original is sent as it is.
    """
    before, now = _as_shown(original), _as_shown(values)
    unchanged = {name for name in EDIT_FIELDS if before.get(name) == now.get(name, "")}
    changed = dict(data)
    if unchanged.issuperset(TIME_FIELDS):
        del changed["start_time"], changed["end_time"]
    for name in EDIT_FIELDS:
        if name in unchanged and name in changed:
            del changed[name]
    return changed
