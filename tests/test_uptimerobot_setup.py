"""`leadflow monitoring setup|status` against a fake UptimeRobot API v2 (tests/fakes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from leadflow.cli.main import app
from leadflow.logs import SecretMasker
from leadflow.monitoring.uptimerobot.client import (
    UptimeRobotClient,
    UptimeRobotError,
    UptimeRobotRateLimited,
)
from leadflow.monitoring.uptimerobot.setup import render_step, run_setup, wanted_state
from tests.fakes.uptimerobot import FakeContact, FakeMonitor, FakeUptimeRobot, serve_in_thread

KEY = "u1234567-fakefakefakefakefake"
SECRET = "hook-secret-9c1d"
PUBLIC = "https://leadflow.example.dk"
runner = CliRunner()


@pytest.fixture
def fake() -> FakeUptimeRobot:
    return FakeUptimeRobot(api_key=KEY)


@pytest.fixture
async def robot(fake: FakeUptimeRobot) -> AsyncIterator[UptimeRobotClient]:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://robot.test") as http:
        yield UptimeRobotClient(
            base_url="http://robot.test/v2", api_key=KEY, http=http, secrets=(SECRET,)
        )


def _summary(report: object) -> dict[str, int]:
    return {a: report.count(a) for a in ("created", "changed", "kept")}  # type: ignore[attr-defined]


async def test_the_first_run_creates_two_monitors_and_one_webhook_contact(
    fake: FakeUptimeRobot, robot: UptimeRobotClient
) -> None:
    report = await run_setup(robot, wanted_state(PUBLIC, SECRET, 300), dry_run=False)
    assert _summary(report) == {"created": 3, "changed": 0, "kept": 0}
    (contact,) = fake.contacts.values()
    assert contact.type == 5
    assert contact.value.startswith(f"{PUBLIC}/webhooks/uptimerobot?token={SECRET}&")
    for variable in ("monitorID", "alertType", "alertDateTime", "alertDuration"):
        assert f"{variable}=*{variable}*" in contact.value
    urls = {m.url: m for m in fake.monitors.values()}
    assert set(urls) == {f"{PUBLIC}/health/ready", f"{PUBLIC}/health/live"}
    for monitor in urls.values():
        assert monitor.type == 1
        assert monitor.interval == 300
        assert monitor.alert_contacts == [(contact.id, 0, 0)]
    # Every call was form-encoded with the key and format=json (the fake refuses others).
    assert all(body["format"] == "json" and body["api_key"] == KEY for body in fake.bodies)


async def test_a_second_run_creates_nothing(
    fake: FakeUptimeRobot, robot: UptimeRobotClient
) -> None:
    wanted = wanted_state(PUBLIC, SECRET, 300)
    await run_setup(robot, wanted, dry_run=False)
    writes = len(fake.writes())
    report = await run_setup(robot, wanted, dry_run=False)
    assert _summary(report) == {"created": 0, "changed": 0, "kept": 3}
    assert len(fake.writes()) == writes
    assert len(fake.monitors) == 2
    assert len(fake.contacts) == 1


async def test_changed_settings_are_edited_not_duplicated(
    fake: FakeUptimeRobot, robot: UptimeRobotClient
) -> None:
    await run_setup(robot, wanted_state(PUBLIC, SECRET, 300), dry_run=False)
    report = await run_setup(robot, wanted_state(PUBLIC, "rotated-secret-1", 60), dry_run=False)
    assert _summary(report) == {"created": 0, "changed": 3, "kept": 0}
    assert fake.writes()[-3:] == ["editAlertContact", "editMonitor", "editMonitor"]
    assert len(fake.monitors) == 2
    assert {m.interval for m in fake.monitors.values()} == {60}
    (contact,) = fake.contacts.values()
    assert "token=rotated-secret-1&" in contact.value


async def test_contacts_already_on_a_monitor_are_kept_and_ours_added(
    fake: FakeUptimeRobot, robot: UptimeRobotClient
) -> None:
    fake.contacts["900"] = FakeContact(
        id="900", type=2, value="ops@example.dk", friendly_name="ops"
    )
    fake.monitors[5] = FakeMonitor(
        id=5,
        friendly_name="old name",
        url=f"{PUBLIC}/health/ready/",
        type=1,
        interval=300,
        alert_contacts=[("900", 2, 30)],
    )
    report = await run_setup(robot, wanted_state(PUBLIC, SECRET, 300), dry_run=False)
    assert _summary(report) == {"created": 2, "changed": 1, "kept": 0}
    ours = next(c.id for c in fake.contacts.values() if c.type == 5)
    assert fake.monitors[5].alert_contacts == [("900", 2, 30), (ours, 0, 0)]
    assert fake.monitors[5].friendly_name == "leadflow ready"
    assert len(fake.monitors) == 2


async def test_a_monitor_of_another_type_on_our_url_is_left_alone(
    fake: FakeUptimeRobot, robot: UptimeRobotClient
) -> None:
    fake.monitors[6] = FakeMonitor(
        id=6, friendly_name="kw", url=f"{PUBLIC}/health/live", type=2, interval=300
    )
    report = await run_setup(robot, wanted_state(PUBLIC, SECRET, 300), dry_run=False)
    assert [s.action for s in report.steps] == ["created", "created", "left alone"]
    assert fake.monitors[6].type == 2


async def test_a_dry_run_writes_nothing(fake: FakeUptimeRobot, robot: UptimeRobotClient) -> None:
    report = await run_setup(robot, wanted_state(PUBLIC, SECRET, 300), dry_run=True)
    assert fake.writes() == []
    lines = [render_step(s, SecretMasker([SECRET]), dry_run=True) for s in report.steps]
    assert all(line.startswith("would create") for line in lines)


async def test_setup_finds_our_monitors_beyond_the_first_page(
    fake: FakeUptimeRobot, robot: UptimeRobotClient
) -> None:
    for i in range(120):
        fake.monitors[i + 10] = FakeMonitor(
            id=i + 10, friendly_name=f"other {i}", url=f"https://other{i}.dk", type=1, interval=300
        )
    wanted = wanted_state(PUBLIC, SECRET, 300)
    await run_setup(robot, wanted, dry_run=False)
    fake.clock.advance(60)  # 3 pages of monitors per run: two runs exceed 10 calls a minute
    report = await run_setup(robot, wanted, dry_run=False)
    assert _summary(report)["kept"] == 3
    assert len(fake.monitors) == 122


async def test_a_bad_key_is_a_clear_error_without_the_key(fake: FakeUptimeRobot) -> None:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport) as http:
        robot = UptimeRobotClient(base_url="http://r/v2", api_key="u999-wrong-key", http=http)
        with pytest.raises(UptimeRobotError) as caught:
            await robot.alert_contacts()
    assert "API key is not valid" in str(caught.value)
    assert "u999-wrong-key" not in str(caught.value)


async def test_stat_fail_names_the_parameter(
    fake: FakeUptimeRobot, robot: UptimeRobotClient
) -> None:
    fake.min_interval = 300
    with pytest.raises(UptimeRobotError) as caught:
        await run_setup(robot, wanted_state(PUBLIC, SECRET, 60), dry_run=False)
    assert "parameter interval" in str(caught.value)
    assert "interval must be at least 300" in str(caught.value)


async def test_the_rate_limit_stops_with_retry_after(
    fake: FakeUptimeRobot, robot: UptimeRobotClient
) -> None:
    fake.clock.advance(100)
    for _ in range(9):
        await robot.call("getAccountDetails")
    fake.clock.advance(20)
    with pytest.raises(UptimeRobotRateLimited) as caught:
        await run_setup(robot, wanted_state(PUBLIC, SECRET, 300), dry_run=False)
    assert caught.value.retry_after == 41
    assert "retry after 41 s" in str(caught.value)
    fake.clock.advance(41)
    report = await run_setup(robot, wanted_state(PUBLIC, SECRET, 300), dry_run=False)
    assert _summary(report)["created"] == 3


def test_wanted_state_refuses_a_url_that_is_not_http() -> None:
    for bad in ("leadflow.example.dk", "ftp://x.dk", "https://x.dk/?a=1"):
        with pytest.raises(ValueError, match="--public-url"):
            wanted_state(bad, SECRET, 300)
    assert wanted_state(PUBLIC, SECRET, 10).interval == 60


# --- the commands ------------------------------------------------------------------------------


@pytest.fixture
def served(fake: FakeUptimeRobot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    with serve_in_thread(fake) as base:
        monkeypatch.chdir(tmp_path)  # no .env
        monkeypatch.setenv("LEADFLOW_UPTIMEROBOT_API_URL", f"{base}/v2")
        monkeypatch.setenv("LEADFLOW_UPTIMEROBOT_API_KEY", KEY)
        monkeypatch.setenv("LEADFLOW_WEBHOOK_SECRET", SECRET)
        yield base


@pytest.mark.usefixtures("served")
def test_the_setup_command_prints_created_then_kept(fake: FakeUptimeRobot) -> None:
    first = runner.invoke(app, ["monitoring", "setup", "--public-url", PUBLIC])
    assert first.exit_code == 0, first.output
    assert "created 3, changed 0, kept 0" in first.output
    second = runner.invoke(app, ["monitoring", "setup", "--public-url", PUBLIC])
    assert second.exit_code == 0, second.output
    assert "created 0, changed 0, kept 3" in second.output
    for output in (first.output, second.output):
        assert SECRET not in output
        assert KEY not in output


@pytest.mark.usefixtures("served")
def test_the_setup_command_fails_clearly_on_a_bad_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADFLOW_UPTIMEROBOT_API_KEY", "u000-not-the-key")
    result = runner.invoke(app, ["monitoring", "setup", "--public-url", PUBLIC])
    assert result.exit_code == 1
    assert "API key is not valid" in result.output
    assert "u000-not-the-key" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("served")
def test_the_setup_command_fails_clearly_when_rate_limited(fake: FakeUptimeRobot) -> None:
    fake.rate_limit = 1
    result = runner.invoke(app, ["monitoring", "setup", "--public-url", PUBLIC])
    assert result.exit_code == 1
    assert "HTTP 429" in result.output
    assert "retry after 61 s" in result.output


def test_setup_without_a_key_or_secret_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADFLOW_UPTIMEROBOT_API_KEY", raising=False)
    result = runner.invoke(app, ["monitoring", "setup", "--public-url", PUBLIC])
    assert result.exit_code == 2
    assert "LEADFLOW_UPTIMEROBOT_API_KEY" in result.output
    monkeypatch.setenv("LEADFLOW_UPTIMEROBOT_API_KEY", KEY)
    monkeypatch.delenv("LEADFLOW_WEBHOOK_SECRET", raising=False)
    result = runner.invoke(app, ["monitoring", "setup", "--public-url", PUBLIC])
    assert result.exit_code == 2
    assert "LEADFLOW_WEBHOOK_SECRET" in result.output


@pytest.mark.usefixtures("served")
def test_the_status_command_lists_state_and_ratios(fake: FakeUptimeRobot) -> None:
    fake.monitors[1] = FakeMonitor(
        id=1,
        friendly_name="leadflow ready",
        url=f"{PUBLIC}/health/ready",
        type=1,
        interval=300,
        status=2,
        uptime_ratio="99.950-99.990-99.998",
    )
    fake.monitors[2] = FakeMonitor(
        id=2,
        friendly_name="leadflow live",
        url=f"{PUBLIC}/health/live",
        type=1,
        interval=300,
        status=9,
        uptime_ratio="80.000-97.000-99.000",
    )
    result = runner.invoke(app, ["monitoring", "status"])
    assert result.exit_code == 0, result.output
    assert "99.950" in result.output
    assert "99.998" in result.output
    assert "down" in result.output
    assert "up" in result.output
    assert fake.bodies[-1]["custom_uptime_ratios"] == "1-7-30"


async def test_a_run_cut_off_half_way_is_completed_by_the_next(
    fake: FakeUptimeRobot, robot: UptimeRobotClient
) -> None:
    fake.rate_limit = 4  # two reads, the contact and one monitor; the second monitor is refused
    wanted = wanted_state(PUBLIC, SECRET, 300)
    with pytest.raises(UptimeRobotRateLimited):
        await run_setup(robot, wanted, dry_run=False)
    assert len(fake.contacts) == 1
    assert len(fake.monitors) == 1
    fake.clock.advance(61)
    report = await run_setup(robot, wanted, dry_run=False)
    assert [s.action for s in report.steps] == ["kept", "kept", "created"]
    assert len(fake.contacts) == 1
    assert len(fake.monitors) == 2
    (contact,) = fake.contacts.values()
    assert all(m.alert_contacts == [(contact.id, 0, 0)] for m in fake.monitors.values())
