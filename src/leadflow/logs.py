"""Logging setup: JSON lines or console (LEADFLOW_LOG_FORMAT), a request id on every line, and
secrets masked in everything written.

The request id lives in one context variable: the API middleware sets it per request (from a
valid incoming `X-Request-ID`, else a new one), the sync loop per run, and outgoing Gmail and
UptimeRobot calls send it on. Masking happens on the formatted line, so a secret reaching a log
through any path (a message, an extra field, an exception, uvicorn's access log with a query
string) comes out as `***`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

import httpx

from leadflow.settings import LogFormat, Settings

_HANDLER_NAME = "leadflow"
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
REQUEST_ID_HEADER = "X-Request-ID"
MASK = "***"

# One request id per request (API middleware) or sync run; api-edge uses the same name.
request_id: ContextVar[str | None] = ContextVar("leadflow_request_id", default=None)
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Credentials as they appear in URLs, form bodies and headers.
_SECRET_PARAMS = re.compile(
    r"(?i)\b((?:api_?key|token|access_token|refresh_token|client_secret|password|secret)=)"
    r"[^&\s\"'\\]+"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(raw: str | None) -> str | None:
    """`raw` when it is a sane id (1-64 of A-Z a-z 0-9 . _ : -), else None (we make our own)."""
    if raw is not None and _VALID_REQUEST_ID.fullmatch(raw):
        return raw
    return None


def current_request_id() -> str | None:
    return request_id.get()


@contextmanager
def request_context(given: str | None = None) -> Iterator[str]:
    """Run the block under the id `given` (a new one when None); the previous id comes back."""
    value = given or new_request_id()
    token = request_id.set(value)
    try:
        yield value
    finally:
        request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Put the current request id (or "-") on every record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get() or "-"
        return True


class SecretMasker:
    """Replace known secret values and credential-looking parameters with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if len(secret) < 4:  # too short to mask without mangling ordinary text
                continue
            variants.add(secret)
            variants.add(json.dumps(secret)[1:-1])
        self._secrets = sorted(variants, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        text = _SECRET_PARAMS.sub(rf"\g<1>{MASK}", text)
        return _BEARER.sub(rf"\g<1>{MASK}", text)


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret value configured in `settings`."""
    values = [
        settings.api_token,
        settings.metrics_token,
        settings.webhook_secret,
        settings.uptimerobot_api_key,
        settings.response_alert_webhook_url,
    ]
    found = [value.get_secret_value() for value in values if value is not None]
    if settings.response_alert_webhook_url is not None:
        # A web-hook URL's secret is its path or query (Slack-style hooks): a line that spells
        # the URL another way (httpx normalises it) still must not show them.
        url = httpx.URL(settings.response_alert_webhook_url.get_secret_value())
        found += [part for part in (url.path, url.query.decode()) if len(part) > 8]
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, extra fields, exception."""

    def __init__(self, masker: SecretMasker | None = None) -> None:
        super().__init__()
        self._masker = masker or SecretMasker()

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return self._masker.mask(json.dumps(payload, default=str, ensure_ascii=False))


class ConsoleFormatter(logging.Formatter):
    """Readable lines for a terminal: time, level, request id, logger, message."""

    def __init__(self, masker: SecretMasker | None = None) -> None:
        super().__init__(
            "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s", "%H:%M:%S"
        )
        self._masker = masker or SecretMasker()

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        return self._masker.mask(super().format(record))


def configure_logging(settings: Settings) -> None:
    masker = SecretMasker(settings_secrets(settings))
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter
    if settings.log_format is LogFormat.JSON:
        formatter = JsonFormatter(masker)
    else:
        formatter = ConsoleFormatter(masker)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    # Replace only our own handler, so calling this twice (or under pytest) keeps other handlers.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != _HANDLER_NAME] + [handler]
    root.setLevel(settings.log_level)
    # httpx logs every request at INFO (thousands per sync); keep those for DEBUG.
    logging.getLogger("httpx").setLevel(
        logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING
    )
    # aiosqlite logs every call it forwards to its thread at DEBUG (a line per row fetch), which
    # drowns our own DEBUG lines; its warnings and errors still show.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    # Alembic announces each of its plugins at INFO whenever migrations are loaded: seven lines
    # before anything a CLI user asked for. Kept for DEBUG.
    logging.getLogger("alembic.runtime.plugins").setLevel(
        logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING
    )
