"""Put monitoring on the app: request ids, HTTP metrics, /health, /metrics, the webhook."""

from __future__ import annotations

from fastapi import FastAPI

from leadflow.api.request_id import RequestIdMiddleware
from leadflow.monitoring.health.router import router as health_router
from leadflow.monitoring.metrics.http import MetricsMiddleware
from leadflow.monitoring.metrics.instruments import get_metrics
from leadflow.monitoring.metrics.router import router as metrics_router
from leadflow.monitoring.metrics.sampler import Sampler
from leadflow.monitoring.uptime.router import webhook_router


def install_monitoring(app: FastAPI) -> None:
    metrics = get_metrics()
    app.state.metrics_sampler = Sampler(metrics)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(webhook_router)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Added last, so it runs first: every log line of the request, metrics included, has the id.
    app.add_middleware(RequestIdMiddleware)
