"""Read one UptimeRobot web-hook alert from its variables (pure: mapping in, Alert out).

UptimeRobot substitutes *monitorID*, *alertType*, ... into the URL's query string or a POST
body (form or JSON). Values arrive as strings or numbers; a variable it did not substitute
arrives as the literal placeholder (`*alertDuration*`) and counts as absent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadflow.api.bounds import clean_text

DOWN, UP, SSL_EXPIRY = 1, 2, 3
ALERT_TYPES = {DOWN: "down", UP: "up", SSL_EXPIRY: "ssl expiry"}
FIELDS = (
    "monitorID",
    "monitorURL",
    "monitorFriendlyName",
    "alertType",
    "alertTypeFriendlyName",
    "alertDetails",
    "alertDuration",
    "alertDateTime",
    "sslExpiryDate",
    "sslExpiryDaysLeft",
)
# Alert times before UptimeRobot existed or far in the future are typos or forgeries.
EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_PLACEHOLDER = re.compile(r"^\*[A-Za-z]+\*$")
_MONITOR_ID = re.compile(r"^[0-9]{1,32}$")


class AlertInvalid(ValueError):
    """The alert cannot be read; `errors` lists [{"field", "message"}]."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Alert:
    monitor_id: str
    alert_type: int
    occurred_at: datetime
    monitor_url: str | None = None
    friendly_name: str | None = None
    type_name: str | None = None
    details: str | None = None
    duration_seconds: int | None = None

    @property
    def is_down(self) -> bool:
        return self.alert_type == DOWN

    @property
    def is_up(self) -> bool:
        return self.alert_type == UP


def _present(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value or _PLACEHOLDER.match(value):
            return None
    return value


def _text(fields: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = _present(fields.get(name))
    if value is None:
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError("must be text")
    return clean_text(str(value))[:limit]


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,12}", value):
        return int(value)
    raise ValueError("must be a whole number")


def parse_alert(fields: Mapping[str, Any]) -> Alert:
    """The Alert in `fields`; raise AlertInvalid naming every bad or missing variable."""
    errors: list[dict[str, str]] = []
    values: dict[str, Any] = {}

    def read(name: str, reader: Any) -> None:
        try:
            values[name] = reader()
        except (ValueError, TypeError, OverflowError) as exc:
            errors.append({"field": name, "message": str(exc)})

    read("monitorID", lambda: _monitor_id(fields.get("monitorID")))
    read("alertType", lambda: _alert_type(fields.get("alertType")))
    read("alertDateTime", lambda: _alert_time(fields.get("alertDateTime")))
    read("alertDuration", lambda: _duration(fields.get("alertDuration")))
    for name, limit in (
        ("monitorURL", 2000),
        ("monitorFriendlyName", 200),
        ("alertTypeFriendlyName", 50),
        ("alertDetails", 2000),
    ):
        read(name, lambda name=name, limit=limit: _text(fields, name, limit))
    if errors:
        raise AlertInvalid(errors)
    return Alert(
        monitor_id=values["monitorID"],
        alert_type=values["alertType"],
        occurred_at=values["alertDateTime"],
        monitor_url=values["monitorURL"],
        friendly_name=values["monitorFriendlyName"],
        type_name=values["alertTypeFriendlyName"],
        details=values["alertDetails"],
        duration_seconds=values["alertDuration"],
    )


def _monitor_id(raw: Any) -> str:
    value = _present(raw)
    if value is None:
        raise ValueError("is required")
    text = str(_integer(value)) if not isinstance(value, str) else value
    if not _MONITOR_ID.match(text):
        raise ValueError("must be UptimeRobot's numeric monitor id")
    return text


def _alert_type(raw: Any) -> int:
    value = _present(raw)
    if value is None:
        raise ValueError("is required")
    number = _integer(value)
    if number not in ALERT_TYPES:
        raise ValueError("must be 1 (down), 2 (up) or 3 (SSL expiry)")
    return number


def _alert_time(raw: Any) -> datetime:
    value = _present(raw)
    if value is None:
        raise ValueError("is required (Unix time)")
    seconds = _integer(value)
    # Range first: fromtimestamp raises OSError (not ValueError) far outside it.
    if not EARLIEST.timestamp() <= seconds < LATEST.timestamp():
        raise ValueError("must be a Unix time between 2010 and 2100")
    return datetime.fromtimestamp(seconds, UTC)


def _duration(raw: Any) -> int | None:
    value = _present(raw)
    if value is None:
        return None
    seconds = _integer(value)
    if not 0 <= seconds <= 10 * 365 * 86400:
        raise ValueError("must be seconds between 0 and ten years")
    return seconds
