"""The backstop for a value the database refused as data (issue 8): a 422 naming the column.

The schemas bound every value (`api.bounds`), so this is reached only by a value that slipped
past them. PostgreSQL reports such values with a SQLSTATE of class 22 (data exception; asyncpg
also raises class 22 when it cannot encode an argument); SQLite's driver raises OverflowError
for an integer beyond 64 bits. The column is found from the statement: the argument the error
names (`$N`), or the argument holding the offending text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError

from leadflow.db import sqlstate

_ARGUMENT = re.compile(r"query argument \$(\d+)")
_INSERT = re.compile(r"INSERT INTO (\w+) \(([^)]*)\) VALUES", re.IGNORECASE)
_COMPARED = r"([\w.\"]+)\s*(?:=|!=|<>|<=|>=|<|>|\bLIKE\b|\bILIKE\b|\bIN\b)\s*\(?\s*(?:\w+\()?"


def is_data_error(exc: BaseException) -> bool:
    """True for a value the database (or its driver) refused as data."""
    if isinstance(exc, OverflowError):
        return True
    code = sqlstate(exc) if isinstance(exc, DBAPIError) else None
    return code is not None and code.startswith("22")


def data_error_field(exc: BaseException) -> str | None:
    """The column the refused value was meant for, when the statement shows it."""
    if not isinstance(exc, DBAPIError) or not exc.statement:
        return None
    number = _argument_number(exc)
    if number is None:
        return None
    return column_of_argument(exc.statement, number)


def _argument_number(exc: DBAPIError) -> int | None:
    found = _ARGUMENT.search(str(exc.orig))
    if found:
        return int(found.group(1))
    params = exc.params
    if isinstance(params, Sequence) and not isinstance(params, str):
        for index, value in enumerate(params, start=1):
            if isinstance(value, str) and _unstorable(value):
                return index
    return None


def _unstorable(value: str) -> bool:
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def column_of_argument(statement: str, number: int) -> str | None:
    """The column `$number` is written to or compared with in `statement` (asyncpg's form)."""
    placeholder = rf"\${number}(?!\d)"
    insert = _INSERT.search(statement)
    if insert:
        columns = [c.strip().strip('"') for c in insert.group(2).split(",")]
        values = statement[insert.end() :]
        arguments = [int(n) for n in re.findall(r"\$(\d+)", values)]
        if number in arguments and columns:
            return f"{insert.group(1)}.{columns[arguments.index(number) % len(columns)]}"
    compared = re.search(_COMPARED + placeholder, statement, re.IGNORECASE)
    if compared:
        return compared.group(1).replace('"', "")
    return None


def data_error_details(exc: BaseException) -> tuple[str, list[dict[str, Any]]]:
    """The 422's message and details for a refused value."""
    field = data_error_field(exc)
    reason = "a value is out of the range or character set the database stores"
    message = f"invalid value for {field}: {reason}" if field else f"invalid input: {reason}"
    return message, [{"field": field, "message": reason, "type": "data_error"}]
