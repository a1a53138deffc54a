"""POST /webhooks/uptimerobot (UptimeRobot's web-hook, token-checked) and GET /api/uptime.

The web-hook sits outside /api: UptimeRobot cannot send our bearer token, so it sends the
LEADFLOW_WEBHOOK_SECRET as `?token=` (or an X-Webhook-Token header on paid plans), compared in
constant time before anything is read or stored. The alert variables may come in the query
string, a form body or a JSON body; GET is accepted too, for web-hooks configured without a
POST value.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, Query, Request

from leadflow.api.deps import SessionDep
from leadflow.api.routing import make_router
from leadflow.api.throttle import AuthThrottle, secret_matches
from leadflow.errors import AppError, Unauthorized, Unprocessable
from leadflow.models import utcnow
from leadflow.monitoring.uptime.alerts import FIELDS, AlertInvalid, parse_alert
from leadflow.monitoring.uptime.overview import uptime_overview
from leadflow.monitoring.uptime.schemas import UptimeOut, WebhookAccepted
from leadflow.monitoring.uptime.service import record_alert

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

webhook_router = APIRouter(tags=["monitoring"])
router = make_router(prefix="/uptime", tags=["monitoring"])


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


def _check_token(request: Request, given: str | None) -> None:
    expected = request.app.state.settings.webhook_secret
    if expected is None:
        raise Unauthorized("LEADFLOW_WEBHOOK_SECRET is not set: the web-hook accepts nothing")
    if not given:
        raise Unauthorized("missing token: send ?token=<secret> or an X-Webhook-Token header")
    throttle: AuthThrottle = request.app.state.webhook_throttle
    if not secret_matches(throttle, request.scope, given, expected):
        raise Unauthorized("invalid web-hook token")


def _body_fields(body: bytes, content_type: str) -> dict[str, Any]:
    if not body.strip():
        return {}
    looks_json = "json" in content_type or (
        "form" not in content_type and body.lstrip().startswith(b"{")
    )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unprocessable("the body is not UTF-8 text") from None
    if looks_json:
        try:
            data = json.loads(text)
        except ValueError:
            raise Unprocessable("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Unprocessable("the JSON body must be an object of alert variables")
        return data
    return dict(parse_qsl(text, keep_blank_values=True))


async def _alert_fields(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    fields: dict[str, Any] = {k: v for k, v in request.query_params.items() if k != "token"}
    fields.update(_body_fields(body, request.headers.get("content-type", "").lower()))
    fields.pop("token", None)
    return fields


@webhook_router.post(
    "/webhooks/uptimerobot",
    response_model=WebhookAccepted,
    summary="Receive an UptimeRobot web-hook alert",
)
@webhook_router.get(
    "/webhooks/uptimerobot", response_model=WebhookAccepted, include_in_schema=False
)
async def uptimerobot_webhook(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Query(description="LEADFLOW_WEBHOOK_SECRET")] = None,
    x_webhook_token: Annotated[str | None, Header()] = None,
) -> WebhookAccepted:
    """Store the alert once (by monitor, type and time) and open or close the incident."""
    _check_token(request, x_webhook_token or token)
    fields = await _alert_fields(request)
    try:
        alert = parse_alert(fields)
    except AlertInvalid as exc:
        raise Unprocessable(f"invalid alert: {exc}", details=exc.errors) from None
    payload = {k: v for k, v in fields.items() if k in FIELDS}
    recorded = await record_alert(session, alert, payload)
    log.info(
        "uptimerobot alert: monitor %s type %d at %s (%s)",
        alert.monitor_id,
        alert.alert_type,
        alert.occurred_at.isoformat(),
        "duplicate" if recorded.duplicate else f"incident {recorded.incident}",
    )
    return WebhookAccepted(
        event_id=recorded.event_id, duplicate=recorded.duplicate, incident=recorded.incident
    )


@router.get("", response_model=UptimeOut, summary="Uptime from UptimeRobot's alerts")
async def get_uptime(session: SessionDep) -> UptimeOut:
    """Monitors with uptime over 24 h / 7 d / 30 d, open incidents, recent incidents and events."""
    return await uptime_overview(session, now=utcnow())
