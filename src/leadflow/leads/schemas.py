"""Lead API shapes."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field

from leadflow.api.patch import NotNull
from leadflow.customers.schemas import Email, Phone
from leadflow.leads.response_time import response_seconds
from leadflow.models import LeadStatus


class _LeadFields(BaseModel):
    """Fields a person may type in for a lead, on create and on edit."""

    name: str | None = Field(None, max_length=200)
    email: Email | None = None
    phone: Phone | None = None
    address: str | None = Field(None, max_length=300)
    postal_code: str | None = Field(None, max_length=16)
    city: str | None = Field(None, max_length=100)
    square_meters: float | None = Field(None, ge=0, le=100_000)
    rooms: int | None = Field(None, ge=0, le=1_000)
    floor: str | None = Field(None, max_length=50)
    property_type: str | None = Field(None, max_length=100)
    task_type: str | None = Field(None, max_length=100)
    contact_type: str | None = Field(None, max_length=50)
    preferred_date: date | None = None
    message: str | None = Field(None, max_length=50_000)
    customer_id: int | None = Field(None, ge=1)


class LeadCreate(_LeadFields):
    """A lead entered by hand (phone call, walk-in); email leads come from the sync pipeline.

    Without `customer_id`, a lead with an email is put on the customer with that email, who is
    created when there is none (as for leads from mail); `customer_id` names the customer
    explicitly (an unknown one is a 422).
    """

    source: str = Field("manual", min_length=1, max_length=50)
    received_at: AwareDatetime | None = Field(None, description="Defaults to now.")


class LeadUpdate(_LeadFields):
    """PATCH body: only the fields sent are changed; status changes follow the transitions.

    `null` clears a field; on `source`, `status`, `needs_review` and `received_at`, which every
    lead has, it is a 422 (a lead without `received_at` would drop out of every date filter).
    """

    source: NotNull[str] = Field(None, min_length=1, max_length=50)
    status: NotNull[LeadStatus] = None
    needs_review: NotNull[bool] = None
    duplicate_of_id: int | None = Field(None, ge=1)
    received_at: NotNull[AwareDatetime] = None


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
