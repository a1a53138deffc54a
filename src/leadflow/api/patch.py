"""PATCH bodies: one rule for a JSON `null`, the same for every resource.

A field left out keeps its value. `null` clears a field the resource may lack (a lead's phone,
a booking's lead); on a field every row must have (a status, a start time, a team) `null` is a
422 naming the field, never ignored and never replaced by a default.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

T = TypeVar("T")


def _refuse_null(value: Any) -> Any:
    # Validators run only on fields that were sent, so this refuses an explicit null.
    if value is None:
        raise ValueError("may not be null; leave the field out to keep its value")
    return value


class _NotNullInSchema:
    """Show the field as non-nullable in OpenAPI (it is optional only to leave it out)."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        variants = [s for s in schema.get("anyOf", []) if s != {"type": "null"}]
        if len(variants) != 1:
            return schema
        rest = {key: value for key, value in schema.items() if key != "anyOf"}
        return {**variants[0], **rest}


# A required field in a PATCH body: may be left out, never null.
NotNull = Annotated[T | None, AfterValidator(_refuse_null), _NotNullInSchema()]
