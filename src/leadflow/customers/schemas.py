"""Customer API shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, EmailStr, Field

from leadflow.api.bounds import CLEAN, MAX_TAGS, Notes, Tag, Text16, Text100, Text200, Text300
from leadflow.api.page_json import json_fields
from leadflow.api.patch import NotNull
from leadflow.models import Customer, CustomerStatus
from leadflow.phones import has_extension, to_e164


def _phone(value: str) -> str | None:
    if not value.strip():
        return None
    e164 = to_e164(value)
    if e164 is None:
        raise ValueError("not a valid phone number")
    if has_extension(value):  # stored as E.164, which has no room for it: say so, drop nothing
        raise ValueError("write the number without an extension (it cannot be stored)")
    return e164


def _lower_email(value: str) -> str:
    return value.strip().lower()


Phone = Annotated[
    str,
    Field(max_length=40, description="Any format; stored as E.164."),
    CLEAN,
    AfterValidator(_phone),
]


def _address_alone(value: object) -> object:
    # EmailStr reads "Ida Holm <ida@example.dk>" as the address and drops the name unseen.
    if isinstance(value, str) and ("<" in value or ">" in value):
        raise ValueError("write the email address alone, without a name or <>")
    return value


Email = Annotated[
    EmailStr,
    BeforeValidator(_address_alone),
    Field(max_length=320),
    AfterValidator(_lower_email),
]


class CustomerCreate(BaseModel):
    # An unknown field is a 422 naming it, not a 2xx that silently ignored it.
    model_config = ConfigDict(extra="forbid")

    name: Text200 | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: Text300 | None = None
    postal_code: Text16 | None = None
    city: Text100 | None = None
    company_name: Text200 | None = None
    notes: Notes | None = None
    status: CustomerStatus = CustomerStatus.ACTIVE
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)


class CustomerUpdate(BaseModel):
    """PATCH body: only the fields sent are changed; `null` clears a field, except `status` and
    `tags`, which every customer has (`null` there is a 422; send `[]` to clear the tags)."""

    # An unknown field is a 422 naming it, not a 2xx that silently ignored it.
    model_config = ConfigDict(extra="forbid")

    name: Text200 | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: Text300 | None = None
    postal_code: Text16 | None = None
    city: Text100 | None = None
    company_name: Text200 | None = None
    notes: Notes | None = None
    status: NotNull[CustomerStatus] = None
    tags: NotNull[list[Tag]] = Field(None, max_length=MAX_TAGS)


class CustomerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str | None
    email: str | None
    phone: str | None
    address: str | None
    postal_code: str | None
    city: str | None
    company_name: str | None
    notes: str | None
    status: CustomerStatus
    tags: list[str]
    total_leads: int
    total_bookings: int
    last_contact_at: datetime | None
    created_at: datetime
    updated_at: datetime


CUSTOMER_FIELDS = json_fields(CustomerOut, Customer)


class CustomerSort(StrEnum):
    NAME = "name"
    NAME_DESC = "-name"
    CREATED = "created_at"
    CREATED_DESC = "-created_at"
    LAST_CONTACT = "last_contact_at"
    LAST_CONTACT_DESC = "-last_contact_at"
