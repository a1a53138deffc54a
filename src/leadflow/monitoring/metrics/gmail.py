"""Gmail API metrics: HTTP answers by method and status (an httpx hook on the sync's client)
and quota units from the client's own counters when it closes."""

from __future__ import annotations

import re
from typing import Protocol

import httpx

from leadflow.monitoring.metrics.instruments import get_metrics

_USERS = re.compile(r"^/gmail/v1/users/[^/]+/(?P<rest>.*)$")
_RESOURCE_METHODS = {
    ("messages",): "messages.list",
    ("messages", "*"): "messages.get",
    ("messages", "*", "attachments", "*"): "messages.attachments.get",
    ("threads",): "threads.list",
    ("threads", "*"): "threads.get",
    ("history",): "history.list",
    ("labels",): "labels.list",
    ("profile",): "getProfile",
}


class GmailCounters(Protocol):
    """What a Gmail client counts (`GmailStats` has these)."""

    units_used: int
    throttled: int


def gmail_method(path: str) -> str:
    """The Gmail API method a request path calls: messages.get, history.list, batch, ..."""
    if path.rstrip("/").endswith("/batch/gmail/v1"):
        return "batch"
    match = _USERS.match(path)
    if match is None:
        return "oauth.token" if path.rstrip("/").endswith("/token") else "other"
    parts = [part for part in match.group("rest").split("/") if part]
    shape = tuple(part if i % 2 == 0 else "*" for i, part in enumerate(parts))
    return _RESOURCE_METHODS.get(shape, "other")


async def _count_answer(response: httpx.Response) -> None:
    method = gmail_method(response.request.url.path)
    get_metrics().gmail_calls.labels(method, str(response.status_code)).inc()


def instrument_gmail_http(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Count every answer `client` receives into leadflow_gmail_api_calls; return it."""
    hooks = client.event_hooks
    hooks["response"] = [*hooks.get("response", []), _count_answer]
    client.event_hooks = hooks
    return client


def record_gmail_counters(counters: GmailCounters) -> None:
    """Add a closing client's quota units and throttled answers to the process totals."""
    metrics = get_metrics()
    if counters.units_used:
        metrics.gmail_quota_units.inc(counters.units_used)
    if counters.throttled:
        metrics.gmail_throttled.inc(counters.throttled)
