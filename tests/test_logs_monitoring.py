"""Logs: a request id on every line of a request and on outgoing calls; secrets never written."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from typer.testing import CliRunner

from leadflow.cli.main import app as cli
from leadflow.logs import SecretMasker, configure_logging, request_context
from leadflow.monitoring.outgoing import tag_outgoing
from leadflow.monitoring.uptimerobot.client import UptimeRobotClient
from leadflow.settings import Settings
from tests.conftest import API_TOKEN
from tests.fakes.uptimerobot import FakeUptimeRobot, serve_in_thread

SECRETS = {
    "api_token": API_TOKEN,
    "webhook_secret": "hook-secret-5e8b",
    "metrics_token": "metrics-token-77aa",
    "uptimerobot_api_key": "u7654321-realish-key-0000",
}


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """JSON logs to the captured stderr; call `_start(json_logs)` in the test body (the
    captured stream of the setup phase is closed by the time the test runs)."""
    try:
        yield capsys
    finally:
        root = logging.getLogger()
        root.handlers[:] = [h for h in root.handlers if h.get_name() != "leadflow"]
        root.setLevel(logging.WARNING)


def _start() -> None:
    settings = Settings(_env_file=None, log_format="json", **SECRETS)  # type: ignore[call-arg, arg-type]
    configure_logging(settings)
    logging.getLogger("leadflow").setLevel(logging.DEBUG)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]


def _assert_no_secret(text: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text, f"{name} leaked"


async def test_every_line_of_a_request_carries_its_id_and_no_secret(
    app: FastAPI, anon_client: httpx.AsyncClient, json_logs: pytest.CaptureFixture[str]
) -> None:
    _start()
    app.state.settings = app.state.settings.model_copy(
        update={"webhook_secret": SecretStr(SECRETS["webhook_secret"])}
    )
    response = await anon_client.post(
        f"/webhooks/uptimerobot?token={SECRETS['webhook_secret']}",
        data={"monitorID": "1", "alertType": "1", "alertDateTime": "1764417600"},
        headers={"X-Request-ID": "req-42"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-42"
    with request_context("req-43"):
        log = logging.getLogger("leadflow.test")
        log.info("calling https://h/webhooks/uptimerobot?token=%s", SECRETS["webhook_secret"])
        log.info("header Authorization: Bearer %s", SECRETS["api_token"])
        log.warning(
            "key %s failed",
            SECRETS["uptimerobot_api_key"],
            extra={"token": SECRETS["metrics_token"]},
        )
    lines = _lines(json_logs)
    alert_lines = [line for line in lines if "uptimerobot alert" in str(line["message"])]
    assert alert_lines
    assert {line["request_id"] for line in alert_lines} == {"req-42"}
    ours = [line for line in lines if line["logger"] == "leadflow.test"]
    assert len(ours) == 3
    assert {line["request_id"] for line in ours} == {"req-43"}
    _assert_no_secret(json.dumps(lines))


async def test_outgoing_calls_carry_the_request_id(json_logs: pytest.CaptureFixture[str]) -> None:
    _start()
    fake = FakeUptimeRobot(api_key=SECRETS["uptimerobot_api_key"])
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport) as http:
        robot = UptimeRobotClient(
            base_url="http://robot.test/v2",
            api_key=SECRETS["uptimerobot_api_key"],
            http=tag_outgoing(http),
        )
        with request_context("run-7"):
            await robot.monitors()
    assert fake.request_ids == ["run-7"]
    lines = _lines(json_logs)
    outgoing = [line for line in lines if line["logger"] == "leadflow.outgoing"]
    assert outgoing
    assert outgoing[0]["request_id"] == "run-7"
    assert "robot.test/v2/getMonitors -> 200" in str(outgoing[0]["message"])
    _assert_no_secret(json.dumps(lines))


def test_the_setup_command_logs_no_secret_at_debug(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeUptimeRobot(api_key=SECRETS["uptimerobot_api_key"])
    with serve_in_thread(fake) as base:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("LEADFLOW_LOG_LEVEL", "DEBUG")
        monkeypatch.setenv("LEADFLOW_LOG_FORMAT", "json")
        monkeypatch.setenv("LEADFLOW_UPTIMEROBOT_API_URL", f"{base}/v2")
        monkeypatch.setenv("LEADFLOW_UPTIMEROBOT_API_KEY", SECRETS["uptimerobot_api_key"])
        monkeypatch.setenv("LEADFLOW_WEBHOOK_SECRET", SECRETS["webhook_secret"])
        try:
            result = CliRunner().invoke(
                cli, ["monitoring", "setup", "--public-url", "https://leadflow.example.dk"]
            )
        finally:
            root = logging.getLogger()
            root.handlers[:] = [h for h in root.handlers if h.get_name() != "leadflow"]
            root.setLevel(logging.WARNING)
    assert result.exit_code == 0, result.output
    assert "leadflow.outgoing" in result.output  # the debug lines were written
    _assert_no_secret(result.output)
    ids = set(fake.request_ids)
    assert len(ids) == 1  # one id for the whole command
    assert None not in ids


def test_the_masker_hides_values_and_credential_parameters() -> None:
    masker = SecretMasker(["s3cr3t-value"])
    text = masker.mask('x s3cr3t-value y api_key=abc&format=json "token=zz" Bearer eyJhbGci.x-y')
    assert "s3cr3t-value" not in text
    assert "api_key=***&format=json" in text
    assert "token=***" in text
    assert "Bearer ***" in text


async def test_the_syncs_gmail_client_is_tagged_and_counted(
    tmp_path: Path, json_logs: pytest.CaptureFixture[str]
) -> None:
    from leadflow.monitoring.metrics.database import DatabaseFigures
    from leadflow.monitoring.metrics.router import render
    from leadflow.sync.job import open_gmail_client
    from tests.fakes.gmail import FakeMailbox
    from tests.fakes.gmail_server import serve_in_thread as serve_gmail
    from tests.fakes.gmail_server import write_credentials
    from tests.monitoring.scrape import parse, value

    _start()
    mailbox = FakeMailbox()
    mailbox.add_synthetic_messages(2)
    before = parse(render(DatabaseFigures(up=False)).decode())
    with serve_gmail(mailbox) as base_url:
        write_credentials(mailbox, base_url, tmp_path / "gmail.json")
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            gmail_api_url=base_url,
            gmail_credentials=tmp_path / "gmail.json",
            gmail_user=mailbox.email,
        )
        with request_context("sync-9"):
            async with open_gmail_client(settings) as gmail:
                await gmail.get_profile()
                await gmail.list_messages()
    after = parse(render(DatabaseFigures(up=False)).decode())
    calls = "leadflow_gmail_api_calls_total"
    for method in ("getProfile", "messages.list", "oauth.token"):
        assert (
            value(after, calls, method=method, status="200")
            - value(before, calls, method=method, status="200")
            == 1
        )
    units = "leadflow_gmail_quota_units_total"
    assert value(after, units) - value(before, units) == 6  # getProfile 1 + messages.list 5
    lines = _lines(json_logs)
    outgoing = [line for line in lines if line["logger"] == "leadflow.outgoing"]
    assert len(outgoing) == 3
    assert {line["request_id"] for line in outgoing} == {"sync-9"}
    text = json.dumps(lines)
    assert "fake-refresh-token" not in text
    assert "fake-secret" not in text
