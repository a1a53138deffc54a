"""Lead API shapes."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, computed_field
from sqlalchemy import BigInteger, case, cast, extract, func, null

from leadflow.api.bounds import (
    Day,
    Id,
    Instant,
    LongText,
    Text16,
    Text50,
    Text100,
    Text200,
    Text300,
)
from leadflow.api.page_json import json_fields
from leadflow.api.patch import NotNull
from leadflow.customers.schemas import Email, Phone
from leadflow.leads.response_time import response_seconds
from leadflow.models import Lead, LeadStatus


class _LeadFields(BaseModel):
    """Fields a person may type in for a lead, on create and on edit."""

    # An unknown field is a 422 naming it, not a 2xx that silently ignored it.
    model_config = ConfigDict(extra="forbid")

    name: Text200 | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: Text300 | None = None
    postal_code: Text16 | None = None
    city: Text100 | None = None
    square_meters: float | None = Field(None, ge=0, le=100_000, allow_inf_nan=False)
    rooms: int | None = Field(None, ge=0, le=1_000)
    floor: Text50 | None = None
    property_type: Text100 | None = None
    task_type: Text100 | None = None
    contact_type: Text50 | None = None
    preferred_date: Day | None = None
    message: LongText | None = None
    customer_id: Id | None = None


class LeadCreate(_LeadFields):
    """A lead entered by hand (phone call, walk-in); email leads come from the sync pipeline.

    Without `customer_id`, a lead with an email is put on the customer with that email, who is
    created when there is none (as for leads from mail); `customer_id` names the customer
    explicitly (an unknown one is a 422).
    """

    source: Text50 = Field("manual", min_length=1)
    received_at: Instant | None = Field(None, description="Defaults to now.")


class LeadUpdate(_LeadFields):
    """PATCH body: only the fields sent are changed; status changes follow the transitions.

    `null` clears a field; on `source`, `status`, `needs_review` and `received_at`, which every
    lead has, it is a 422 (a lead without `received_at` would drop out of every date filter).
    """

    source: NotNull[Text50] = Field(None, min_length=1)
    status: NotNull[LeadStatus] = None
    needs_review: NotNull[bool] = None
    duplicate_of_id: Id | None = None
    received_at: NotNull[Instant] = None


class LeadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int | None
    source: str
    name: str | None
    email: str | None
    phone: str | None
    address: str | None
    postal_code: str | None
    city: str | None
    square_meters: float | None
    rooms: int | None
    floor: str | None
    property_type: str | None
    task_type: str | None
    contact_type: str | None
    preferred_date: date | None
    preferred_date_text: str | None = Field(
        None, description="The preferred date as the lead mail wrote it (also when not a date)."
    )
    message: str | None
    details: dict[str, str] = Field(
        default_factory=dict,
        description="Labelled answers of the lead mail that no field holds: label -> answer.",
    )
    edited_fields: list[str] = Field(
        default_factory=list,
        description="Fields a person has set through the API; `leads rescan` leaves them alone.",
    )
    status: LeadStatus
    needs_review: bool
    duplicate_of_id: int | None
    mailbox_id: int | None
    gmail_message_id: str | None
    gmail_thread_id: str | None
    received_at: datetime | None
    first_response_at: datetime | None = Field(
        None,
        description="When the business first answered: the first outbound mail after the lead "
        "arrived, in its thread, in a thread linked to its customer, or to its address; "
        "null while unanswered.",
    )
    created_at: datetime
    updated_at: datetime

    @computed_field(  # type: ignore[prop-decorator]
        description="Whole seconds from received_at to first_response_at; null while unanswered."
    )
    @property
    def response_seconds(self) -> int | None:
        return response_seconds(self.received_at, self.first_response_at)


# `LeadOut.response_seconds` in SQL, for pages PostgreSQL renders (`api.page_json`): whole
# seconds, truncated like `response_time.response_seconds`, never negative, null while either
# time is missing (GREATEST skips nulls, hence the CASE).
_ELAPSED = extract("epoch", Lead.first_response_at - Lead.received_at)
_RESPONSE_SECONDS = case(
    (_ELAPSED.is_(None), null()),
    else_=cast(func.greatest(0, func.floor(_ELAPSED)), BigInteger),
)
LEAD_FIELDS = json_fields(LeadOut, Lead, {"response_seconds": _RESPONSE_SECONDS})
