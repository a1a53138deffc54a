"""The `application/health+json` document (IETF draft-inadarei-api-health-check), built purely."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from leadflow.api.bounds import utc_text

MEDIA_TYPE = "application/health+json"
SERVICE_ID = "leadflow"


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a health status, not a password
    WARN = "warn"
    FAIL = "fail"


_RANK = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One entry of `checks`: keyed "component:measurement"."""

    key: str
    component_type: str
    status: Status
    time: datetime
    component_id: str | None = None
    observed_value: Any = None
    observed_unit: str | None = None
    output: str | None = None

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"componentType": self.component_type, "status": self.status}
        if self.component_id is not None:
            entry["componentId"] = self.component_id
        if self.observed_value is not None:
            entry["observedValue"] = self.observed_value
        if self.observed_unit is not None:
            entry["observedUnit"] = self.observed_unit
        entry["time"] = utc_text(self.time)
        if self.output:
            entry["output"] = self.output
        return entry


def overall(results: Sequence[CheckResult]) -> Status:
    """The worst status among `results` (pass when there are none)."""
    return max((r.status for r in results), key=_RANK.__getitem__, default=Status.PASS)


def http_status(status: Status) -> int:
    return 503 if status is Status.FAIL else 200


def health_document(
    results: Sequence[CheckResult], *, version: str, description: str
) -> dict[str, Any]:
    """The response body: status, version, serviceId, description and the checks by key."""
    checks: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        checks.setdefault(result.key, []).append(result.as_json())
    status = overall(results)
    document: dict[str, Any] = {
        "status": status.value,
        "version": version,
        "serviceId": SERVICE_ID,
        "description": description,
        "checks": checks,
    }
    failing = [r.key for r in results if r.status is not Status.PASS]
    if failing:
        document["notes"] = [f"{key}: {_first_output(results, key)}" for key in failing]
    return document


def _first_output(results: Sequence[CheckResult], key: str) -> str:
    for result in results:
        if result.key == key and result.status is not Status.PASS:
            return result.output or result.status.value
    return ""
