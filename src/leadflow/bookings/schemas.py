"""Booking API shapes. Times must carry a timezone; they are stored in UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from leadflow.api.bounds import CLEAN, Id, Instant, Notes, Text100, Text300
from leadflow.api.page_json import json_fields
from leadflow.api.patch import NotNull
from leadflow.models import Booking, BookingStatus

# Team names compare case-insensitively: trimmed and lower-cased on the way in (`TZ-1` → `tz-1`).
Team = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=100),
    CLEAN,
    Field(description="Case-insensitive: stored trimmed and lower-cased (`TZ-1` is `tz-1`)."),
]
# A booking is created active; completion and cancellation come later (PATCH / cancel).
InitialStatus = Literal["scheduled", "confirmed"]


class BookingCreate(BaseModel):
    # An unknown field is a 422 naming it, not a 2xx that silently ignored it.
    model_config = ConfigDict(extra="forbid")

    customer_id: Id = Field(description="An unknown customer is a 422 naming this field.")
    lead_id: Id | None = None
    service_type: Text100 | None = None
    address: Text300 | None = None
    team: Team = "default"
    start_time: Instant
    end_time: Instant
    status: InitialStatus = "scheduled"
    notes: Notes | None = None

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        return self


class BookingUpdate(BaseModel):
    """PATCH body: only the fields sent are changed; new times or team re-check the overlap rule.

    `null` clears a field (`lead_id`, `service_type`, `address`, `notes`); on `team`,
    `start_time`, `end_time` and `status`, which every booking has, it is a 422.
    """

    # An unknown field is a 422 naming it, not a 2xx that silently ignored it.
    model_config = ConfigDict(extra="forbid")

    lead_id: Id | None = None
    service_type: Text100 | None = None
    address: Text300 | None = None
    team: NotNull[Team] = None
    start_time: NotNull[Instant] = None
    end_time: NotNull[Instant] = None
    status: NotNull[BookingStatus] = None
    notes: Notes | None = None

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        return self


class BookingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    lead_id: int | None
    service_type: str | None
    address: str | None
    team: str
    start_time: datetime
    end_time: datetime
    status: BookingStatus
    notes: str | None
    created_at: datetime
    updated_at: datetime


BOOKING_FIELDS = json_fields(BookingOut, Booking)
