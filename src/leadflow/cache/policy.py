"""Key families, their TTLs, and the tags that tie cached views to the data they show.

A view carries the tags of the data it reads; a write invalidates the tags of the data it
changed (`invalidation.py`). Tags name data, not views: `customers` is "some customer row
changed", `customer:<id>` is "this customer's row changed".
"""

from __future__ import annotations

import functools
import hashlib
import json
from enum import StrEnum

from pydantic import BaseModel

from leadflow.settings import Settings


class Family(StrEnum):
    """Key families; each has its TTL in LEADFLOW_CACHE_TTL_SECONDS."""

    DASHBOARD = "dashboard"
    LISTS = "lists"
    CUSTOMER360 = "customer360"


class Tag(StrEnum):
    CUSTOMERS = "customers"
    LEADS = "leads"
    THREADS = "threads"
    BOOKINGS = "bookings"
    MAILBOXES = "mailboxes"


ALL_DATA_TAGS = frozenset(tag.value for tag in Tag)


def customer_tag(customer_id: int | str) -> str:
    return f"customer:{customer_id}"


def ttl(settings: Settings, family: Family) -> float:
    """Seconds a value of `family` lives (settings hold every family: defaults are merged in)."""
    return settings.cache_ttl_seconds[family.value]


@functools.cache
def schema_version(model: type[BaseModel]) -> str:
    """A short hash of `model`'s JSON schema: a changed response shape never reads old bytes."""
    schema = json.dumps(model.model_json_schema(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(schema.encode()).hexdigest()[:12]
