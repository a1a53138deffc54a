"""Event hooks for outgoing HTTP clients (Gmail, UptimeRobot): send the request id on, log.

Only the method, host and path are logged: query strings and bodies can hold credentials
(UptimeRobot's api_key is a form field; OAuth token requests carry refresh tokens).
"""

from __future__ import annotations

import logging

import httpx

from leadflow.logs import REQUEST_ID_HEADER, current_request_id

log = logging.getLogger("leadflow.outgoing")


async def _tag_request(request: httpx.Request) -> None:
    request_id = current_request_id()
    if request_id is not None:
        request.headers[REQUEST_ID_HEADER] = request_id


async def _log_response(response: httpx.Response) -> None:
    request = response.request
    log.debug(
        "%s %s%s -> %d",
        request.method,
        request.url.host,
        request.url.path,
        response.status_code,
        extra={"service": request.url.host},
    )


def tag_outgoing(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Add the request-id header and a debug line to every call `client` makes; return it."""
    hooks = client.event_hooks
    hooks["request"] = [*hooks.get("request", []), _tag_request]
    hooks["response"] = [*hooks.get("response", []), _log_response]
    client.event_hooks = hooks
    return client
