"""POST /webhooks/uptimerobot and GET /api/uptime: auth, formats, idempotency, incidents, uptime."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import UptimeEvent, UptimeIncident, UptimeMonitor

SECRET = "hook-secret-7f3a"
T0 = int(datetime(2026, 11, 29, 12, 0, tzinfo=UTC).timestamp())


@pytest.fixture
def hook_app(app: FastAPI) -> FastAPI:
    app.state.settings = app.state.settings.model_copy(update={"webhook_secret": SecretStr(SECRET)})
    return app


def alert(
    kind: int, at: int, *, monitor: str = "777001", duration: int | None = None, **extra: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "monitorID": monitor,
        "monitorURL": "https://leadflow.example/health/ready",
        "monitorFriendlyName": "leadflow ready",
        "alertType": str(kind),
        "alertTypeFriendlyName": {1: "Down", 2: "Up", 3: "SSL"}.get(kind, "?"),
        "alertDetails": "Connection Timeout" if kind == 1 else "OK",
        "alertDuration": "" if duration is None else str(duration),
        "alertDateTime": str(at),
    }
    fields.update(extra)
    return fields


async def post(client: httpx.AsyncClient, fields: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return await client.post(f"/webhooks/uptimerobot?token={SECRET}", data=fields, **kwargs)


async def _count(session: AsyncSession, table: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(table)) or 0)


# --- auth --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("hook_app")
@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/webhooks/uptimerobot", {}),
        ("/webhooks/uptimerobot?token=wrong", {}),
        ("/webhooks/uptimerobot", {"X-Webhook-Token": "wrong"}),
        ("/webhooks/uptimerobot?token=", {}),
        (f"/webhooks/uptimerobot?token={SECRET}x", {}),
    ],
)
async def test_a_wrong_or_missing_token_is_refused_and_nothing_stored(
    anon_client: httpx.AsyncClient, session: AsyncSession, url: str, headers: dict[str, str]
) -> None:
    response = await anon_client.post(url, data=alert(1, T0), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert await _count(session, UptimeEvent) == 0
    assert await _count(session, UptimeMonitor) == 0


async def test_without_a_configured_secret_everything_is_refused(
    anon_client: httpx.AsyncClient,
) -> None:
    response = await anon_client.post("/webhooks/uptimerobot?token=anything", data=alert(1, T0))
    assert response.status_code == 401
    assert "LEADFLOW_WEBHOOK_SECRET" in response.json()["error"]["message"]


@pytest.mark.usefixtures("hook_app")
async def test_the_header_token_is_accepted(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.post(
        "/webhooks/uptimerobot", json=alert(1, T0), headers={"X-Webhook-Token": SECRET}
    )
    assert response.status_code == 200, response.text
    assert response.json()["incident"] == "opened"


# --- formats ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("hook_app")
@pytest.mark.parametrize("shape", ["form", "json", "query-post", "query-get"])
async def test_each_format_stores_the_same_event(
    anon_client: httpx.AsyncClient, session: AsyncSession, shape: str
) -> None:
    fields = alert(1, T0)
    url = f"/webhooks/uptimerobot?token={SECRET}"
    if shape == "form":
        response = await anon_client.post(url, data=fields)
    elif shape == "json":
        numeric = {**fields, "alertType": 1, "alertDateTime": T0, "monitorID": 777001}
        response = await anon_client.post(
            url, content=json.dumps(numeric), headers={"Content-Type": "application/json"}
        )
    elif shape == "query-post":
        response = await anon_client.post(f"{url}&{urlencode(fields)}")
    else:
        response = await anon_client.get(f"{url}&{urlencode(fields)}")
    assert response.status_code == 200, response.text
    event = (await session.scalars(select(UptimeEvent))).one()
    assert event.alert_type == 1
    assert event.occurred_at == datetime.fromtimestamp(T0, UTC)
    assert event.details == "Connection Timeout"
    assert "token" not in event.payload
    monitor = (await session.scalars(select(UptimeMonitor))).one()
    assert monitor.external_id == "777001"
    assert monitor.friendly_name == "leadflow ready"


@pytest.mark.usefixtures("hook_app")
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"alertType": "1", "alertDateTime": str(T0)}, "monitorID"),
        (alert(4, T0), "alertType"),
        (alert(1, T0, alertType="down"), "alertType"),
        (alert(1, T0, alertDateTime="yesterday"), "alertDateTime"),
        (alert(1, T0, alertDateTime="*alertDateTime*"), "alertDateTime"),
        (alert(1, 10**15), "alertDateTime"),
        (alert(2, T0, duration=-5), "alertDuration"),
        (alert(1, T0, monitorID="12ab"), "monitorID"),
    ],
)
async def test_a_malformed_alert_is_422_naming_the_field(
    anon_client: httpx.AsyncClient, session: AsyncSession, fields: dict[str, Any], field: str
) -> None:
    response = await post(anon_client, fields)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [d["field"] for d in error["details"]]
    assert await _count(session, UptimeEvent) == 0


@pytest.mark.usefixtures("hook_app")
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (b'{"alertType": {"x": 1}}', "application/json"),
    ],
)
async def test_a_broken_body_is_422_not_500(
    anon_client: httpx.AsyncClient, body: bytes, content_type: str
) -> None:
    response = await anon_client.post(
        f"/webhooks/uptimerobot?token={SECRET}",
        content=body,
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 422, response.text


# --- idempotency and incidents -----------------------------------------------------------------


@pytest.mark.usefixtures("hook_app")
async def test_a_repeated_alert_is_stored_once(
    anon_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = await post(anon_client, alert(1, T0))
    again = await post(anon_client, alert(1, T0))
    assert first.json()["duplicate"] is False
    assert again.status_code == 200
    assert again.json() == {"event_id": None, "duplicate": True, "incident": "unchanged"}
    assert await _count(session, UptimeEvent) == 1
    assert await _count(session, UptimeIncident) == 1


@pytest.mark.usefixtures("hook_app")
async def test_racing_copies_of_one_alert_store_one_event_and_one_incident(
    hook_app: FastAPI, session: AsyncSession
) -> None:
    async def send() -> int:
        transport = httpx.ASGITransport(app=hook_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return (await post(c, alert(1, T0))).status_code

    codes = await asyncio.gather(*(send() for _ in range(6)))
    assert set(codes) == {200}
    assert await _count(session, UptimeEvent) == 1
    assert await _count(session, UptimeIncident) == 1


@pytest.mark.usefixtures("hook_app")
async def test_down_then_up_closes_the_incident_with_its_duration(
    anon_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    assert (await post(anon_client, alert(1, T0))).json()["incident"] == "opened"
    assert (await post(anon_client, alert(1, T0 + 300))).json()["incident"] == "unchanged"
    up = await post(anon_client, alert(2, T0 + 600, duration=600))
    assert up.json()["incident"] == "closed"
    incident = (await session.scalars(select(UptimeIncident))).one()
    assert incident.started_at == datetime.fromtimestamp(T0, UTC)
    assert incident.ended_at == datetime.fromtimestamp(T0 + 600, UTC)
    assert incident.duration_seconds == 600
    assert incident.cause == "Connection Timeout"
    monitor = (await session.scalars(select(UptimeMonitor))).one()
    assert monitor.state == "up"


@pytest.mark.usefixtures("hook_app")
async def test_an_up_without_its_down_records_the_incident_from_its_duration(
    anon_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    assert (await post(anon_client, alert(2, T0, duration=120))).json()["incident"] == "recorded"
    # The late down alert falls inside the recorded incident: nothing new opens.
    assert (await post(anon_client, alert(1, T0 - 120))).json()["incident"] == "unchanged"
    incident = (await session.scalars(select(UptimeIncident))).one()
    assert incident.duration_seconds == 120
    assert incident.ended_at is not None
    monitor = (await session.scalars(select(UptimeMonitor))).one()
    assert monitor.state == "up"  # the later event decides


@pytest.mark.usefixtures("hook_app")
async def test_ssl_expiry_alerts_are_stored_without_an_incident(
    anon_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response = await post(anon_client, alert(3, T0, sslExpiryDaysLeft="5"))
    assert response.json()["incident"] == "unchanged"
    assert await _count(session, UptimeIncident) == 0
    event = (await session.scalars(select(UptimeEvent))).one()
    assert event.payload["sslExpiryDaysLeft"] == "5"


# --- GET /api/uptime ---------------------------------------------------------------------------


@pytest.mark.usefixtures("hook_app")
async def test_uptime_is_computed_from_the_events(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient
) -> None:
    now = int(datetime.now(UTC).timestamp())
    day = 86400
    # Monitor A: seen for 10 days, down 1 h two days ago (closed), down now for 30 min.
    await post(anon_client, alert(2, now - 10 * day, monitor="1", duration=0))
    await post(anon_client, alert(1, now - 2 * day, monitor="1"))
    await post(anon_client, alert(2, now - 2 * day + 3600, monitor="1", duration=3600))
    await post(anon_client, alert(1, now - 1800, monitor="1"))
    # Monitor B: only ever up.
    await post(anon_client, alert(2, now - 40 * day, monitor="2", duration=0))

    response = await client.get("/api/uptime")
    assert response.status_code == 200, response.text
    body = response.json()
    monitors = {m["external_id"]: m for m in body["monitors"]}
    a, b = monitors["1"], monitors["2"]
    assert a["state"] == "down"
    assert a["open_incident"]["started_at"]
    assert a["uptime"]["last_24h"] == pytest.approx(100 * (1 - 1800 / day), abs=0.01)
    assert a["uptime"]["last_7d"] == pytest.approx(100 * (1 - 5400 / (7 * day)), abs=0.01)
    # Observed for 10 days only: the 30-day figure covers those 10 days.
    assert a["uptime"]["last_30d"] == pytest.approx(100 * (1 - 5400 / (10 * day)), abs=0.01)
    assert b["uptime"] == {"last_24h": 100.0, "last_7d": 100.0, "last_30d": 100.0}
    assert [i["monitor_id"] for i in body["open_incidents"]] == [a["id"]]
    assert len(body["recent_incidents"]) == 2
    assert len(body["recent_events"]) == 5


async def test_uptime_needs_the_bearer_token(anon_client: httpx.AsyncClient) -> None:
    assert (await anon_client.get("/api/uptime")).status_code == 401


async def test_uptime_with_no_monitors_is_empty(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/uptime")).json()
    assert body["monitors"] == []
    assert body["open_incidents"] == []


@pytest.mark.usefixtures("hook_app")
async def test_racing_down_alerts_of_one_monitor_open_one_incident(
    hook_app: FastAPI, session: AsyncSession
) -> None:
    async def send(offset: int) -> int:
        transport = httpx.ASGITransport(app=hook_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            kind = 2 if offset < 0 else 1
            return (await post(c, alert(kind, T0 + offset, duration=0))).status_code

    # The monitor exists already: a new monitor's row insert would serialise them by itself.
    assert await send(-3600) == 200
    codes = await asyncio.gather(*(send(i * 60) for i in range(6)))
    assert set(codes) == {200}
    assert await _count(session, UptimeEvent) == 7
    incident = (await session.scalars(select(UptimeIncident))).one()
    assert incident.ended_at is None
    assert incident.started_at == datetime.fromtimestamp(
        T0, UTC
    )  # the earliest down, whatever came first


@pytest.mark.usefixtures("hook_app")
@pytest.mark.parametrize(
    "name", ["monitorURL", "monitorFriendlyName", "alertTypeFriendlyName", "alertDetails"]
)
@pytest.mark.parametrize("bad", ["Down\x00", "Down\ud800"])
async def test_an_alert_text_with_a_nul_or_lone_surrogate_is_a_422(
    client: httpx.AsyncClient, session: AsyncSession, name: str, bad: str
) -> None:
    response = await client.post(
        f"/webhooks/uptimerobot?token={SECRET}",
        content=json.dumps(alert(1, T0, **{name: bad})).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert [item["field"] for item in response.json()["error"]["details"]] == [name]
    assert await _count(session, UptimeEvent) == 0
