"""Bounds every value keeps at the API edge, declared in the schemas so OpenAPI shows them.

A value the database cannot hold is refused here with a 422 naming the field, never sent on to
fail as a 500 (issue 8): ids within the column type (`Integer` is int4 on PostgreSQL), text
without NUL characters or lone surrogates (PostgreSQL cannot store them; SQLite stored them
silently) and within the column's length, lists capped, times within years 1970-2100 and
converted to UTC on the way in (so an answer never echoes the client's offset).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from leadflow.calendar_bounds import EARLIEST, EARLIEST_DAY, LATEST, LATEST_DAY

# `Integer` columns are int4 on PostgreSQL; SQLite's integers are wider, so int4 bounds both.
INT4_MAX = 2**31 - 1
MAX_OFFSET = INT4_MAX
# JSON Schema (ECMA-262) form of the text rule, for clients and schema-driven tests.
TEXT_PATTERN = "^[^\\u0000\\uD800-\\uDFFF]*$"
TIME_RULE = "UTC with `Z` in answers; with a timezone, between 1970-01-01 and 2100-12-31 (UTC)."


def clean_text(value: str) -> str:
    """`value` unless it holds a NUL character or a lone surrogate (not storable text)."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (a lone surrogate was sent)") from None
    return value


class _CleanText:
    """Annotated marker: validate with `clean_text` (and `check`), show the rule as a `pattern`
    in OpenAPI."""

    def __init__(
        self, pattern: str = TEXT_PATTERN, check: Callable[[str], str] | None = None
    ) -> None:
        self.pattern = pattern
        self.check = check

    def _validate(self, value: str) -> str:
        value = clean_text(value)
        return self.check(value) if self.check is not None else value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


CLEAN = _CleanText()

# Text sized to its column (see models.tables); NUL and lone surrogates refused everywhere.
Text16 = Annotated[str, Field(max_length=16), CLEAN]
Text50 = Annotated[str, Field(max_length=50), CLEAN]
Text100 = Annotated[str, Field(max_length=100), CLEAN]
Text200 = Annotated[str, Field(max_length=200), CLEAN]
Text300 = Annotated[str, Field(max_length=300), CLEAN]
Text320 = Annotated[str, Field(max_length=320), CLEAN]
# `Text` columns: notes and messages a person types in.
Notes = Annotated[str, Field(max_length=20_000), CLEAN]
LongText = Annotated[str, Field(max_length=50_000), CLEAN]


def _no_comma(value: str) -> str:
    if "," in value:
        raise ValueError("must not contain a comma (the dashboard lists tags separated by commas)")
    return value


# A tag, and a customer's list of them (a JSON column: the cap is ours). No comma either: the
# dashboard's form lists a customer's tags separated by commas.
Tag = Annotated[
    str,
    Field(min_length=1, max_length=100),
    _CleanText(pattern="^[^,\\u0000\\uD800-\\uDFFF]*$", check=_no_comma),
]
MAX_TAGS = 50

# A calendar day in a body (a lead's preferred date): the same years as the times.
Day = Annotated[
    date,
    Field(ge=EARLIEST_DAY, le=LATEST_DAY, description="A date between 1970-01-01 and 2100-12-31."),
]

# A row id in a body, a path and a query.
Id = Annotated[int, Field(ge=1, le=INT4_MAX)]
PathId = Annotated[
    int, Path(ge=1, le=INT4_MAX, description="A row id (1 to 2147483647).", examples=[1])
]
QueryId = Annotated[int | None, Query(ge=1, le=INT4_MAX, description="A row id.")]


def utc_instant(value: datetime) -> datetime:
    """`value` in UTC, when it lies in 1970-2100; years out of range are refused before the
    conversion, which would overflow at the ends of the calendar (`0001-01-01T00:30+01:00`)."""
    if not EARLIEST.year - 1 <= value.year <= LATEST.year + 1:
        raise ValueError("must lie between 1970-01-01 and 2100-12-31 (UTC)")
    utc = value.astimezone(UTC)
    if not EARLIEST <= utc <= LATEST:
        raise ValueError("must lie between 1970-01-01 and 2100-12-31 (UTC)")
    return utc


# A point in time sent to us: with a timezone, in range, stored and answered in UTC.
Instant = Annotated[AwareDatetime, AfterValidator(utc_instant), Field(description=TIME_RULE)]
# A text query parameter (search, filters): the same text rule as bodies.
QueryText = Annotated[str, CLEAN]


def utc_text(value: datetime) -> str:
    """A time as every answer writes it: ISO 8601 in UTC with `Z` (as the JSON bodies do)."""
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"
