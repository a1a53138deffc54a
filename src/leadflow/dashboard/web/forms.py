"""Reading the dashboard's forms: text fields, and pydantic's errors as messages per field.

Pages build the API's own request models (`CustomerUpdate`, `BookingCreate`, ...) from a form,
so the rules are the API's; a `ValidationError` becomes `{field: message}` shown next to each
field (texts are gettext messages, translated in the template).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Path
from pydantic import ValidationError
from starlette.datastructures import FormData

from leadflow.dashboard.web.deps import PREFIX
from leadflow.dashboard.web.labels import N_

FieldErrors = dict[str, str]
# Row ids the database's integer columns can hold: a path id beyond is a 422, not a DB error.
MAX_ID = 2**31 - 1
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]

# What a field's value must look like, when the generic messages below say too little.
FIELD_HINTS = {
    "email": N_("Enter a valid email address, like navn@example.dk."),
    "phone": N_("Enter a valid phone number, like 12 34 56 78 or +45 12 34 56 78."),
    "team": N_("Enter a team name."),
}
_BY_TYPE = {
    "string_too_long": N_("This is too long."),
    "too_long": N_("There are too many."),
    "missing": N_("This field is required."),
    "string_too_short": N_("This field is required."),
}
INVALID = N_("This value is not valid.")


def text(form: FormData, name: str, *, max_length: int = 20_000) -> str:
    """The field's text, trimmed ('' when absent or not text)."""
    value = form.get(name)
    return value.strip()[:max_length] if isinstance(value, str) else ""


def optional(form: FormData, name: str) -> str | None:
    """The field's trimmed text, or None when it is empty (a cleared field)."""
    return text(form, name) or None


def field_errors(exc: ValidationError) -> FieldErrors:
    """The first problem of each field, as a message for the page (the model's field names)."""
    errors: FieldErrors = {}
    for error in exc.errors():
        loc = error.get("loc", ())
        name = str(loc[0]) if loc else "form"
        if name in errors:
            continue
        kind = str(error.get("type", ""))
        errors[name] = _BY_TYPE.get(kind) or FIELD_HINTS.get(name) or INVALID
    return errors


def row_id(raw: str) -> int | None:
    """A form's id field as an id the database can hold, or None."""
    if not raw.isdigit() or len(raw) > 10:
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def page_number(raw: str | None) -> int:
    """A list's `?page=` (1 when absent or not a number; at most 10,000)."""
    try:
        return max(1, min(int(raw or 1), 10_000))
    except ValueError:
        return 1


def local_target(value: object, default: str) -> str:
    """A `next` address from a form, kept only when it is one of the dashboard's own pages."""
    if not isinstance(value, str):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith(PREFIX + "/") or "\\" in value:
        return default
    return value
