"""ASGI middleware counting HTTP requests by route template, method and status, with latency.

The route template (`/api/customers/{customer_id}`), not the path, labels a request, so ids do
not multiply the series; a path no route matched is `<unmatched>`. Label children are cached
per (route, method, status) to keep the per-request cost to a dict lookup and two updates.
"""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi.routing import iter_route_contexts
from prometheus_client.metrics import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadflow.monitoring.metrics.instruments import Metrics, get_metrics

UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RouteTemplates:
    """Full path templates of the app's routes, keyed by the route object a request matched.

    FastAPI puts the matched route on `scope["route"]` with the path it was declared with
    (`/{customer_id}`), not the full one (`/api/customers/{customer_id}`); the app's route
    table (`iter_route_contexts`) knows the full one. Read once, on the first request.
    """

    def __init__(self) -> None:
        self._by_route: dict[int, list[tuple[re.Pattern[str], str]]] | None = None

    def _build(self, app: Any) -> dict[int, list[tuple[re.Pattern[str], str]]]:
        table: dict[int, list[tuple[re.Pattern[str], str]]] = {}
        for context in iter_route_contexts(getattr(app, "routes", [])):
            path: object = context.path_format or context.path
            regex = getattr(context, "path_regex", None)
            if isinstance(path, str) and isinstance(regex, re.Pattern):
                table.setdefault(id(context.original_route), []).append((regex, path))
        return table

    def template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        if self._by_route is None:
            self._by_route = self._build(scope.get("app"))
        candidates = self._by_route.get(id(route), [])
        if len(candidates) == 1:
            return candidates[0][1]
        for regex, template in candidates:  # one route mounted under several prefixes
            if regex.match(scope.get("path", "")):
                return template
        declared = getattr(route, "path", None)
        return declared if isinstance(declared, str) else UNMATCHED


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics or get_metrics()
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._histograms: dict[tuple[str, str], Histogram] = {}
        self._templates = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self._observe(self._templates.template(scope), method, status, elapsed)

    def _observe(self, route: str, method: str, status: int, elapsed: float) -> None:
        counter = self._counters.get((route, method, status))
        if counter is None:
            counter = self.metrics.http_requests.labels(route, method, str(status))
            self._counters[(route, method, status)] = counter
        histogram = self._histograms.get((route, method))
        if histogram is None:
            histogram = self.metrics.http_duration.labels(route, method)
            self._histograms[(route, method)] = histogram
        counter.inc()
        histogram.observe(elapsed)
