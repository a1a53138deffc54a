"""The newcomer's path: `make demo`, then `leadflow …` on the same data; dates relative to today."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from leadflow.cli.demo import demo_banner
from leadflow.cli.main import app
from leadflow.dashboard.service import compute_stats
from leadflow.db import create_engine, create_sessionmaker
from leadflow.maintenance.demo import NotDemoData, load_demo_data
from leadflow.maintenance.sample_mailbox import build_sample_mailbox, dated_sample_mailbox
from leadflow.maintenance.schema import current_schema_revision
from leadflow.migrations import run_upgrade
from leadflow.models import MailProvider
from leadflow.settings import Settings
from leadflow.sync.mailboxes import ensure_mailbox

runner = CliRunner()
COPENHAGEN = ZoneInfo("Europe/Copenhagen")


def _dates(raws: list[bytes]) -> list[datetime]:
    out = []
    for raw in raws:
        header = next(
            line for line in raw.split(b"\n") if line.lower().startswith(b"date:")
        ).decode()
        out.append(parsedate_to_datetime(header.split(":", 1)[1].strip()))
    return out


@settings(max_examples=20, deadline=None)
# Just after a Copenhagen midnight, with a clock change inside the shifted span (found by
# hypothesis: zoned arithmetic stretched one message by an hour).
@example(now=datetime(2030, 11, 4, 23, 0, 32, tzinfo=UTC))
@given(
    now=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
    )
)
def test_the_dated_mailbox_is_the_bundled_one_moved_to_end_today(now: datetime) -> None:
    original = build_sample_mailbox()
    dated = dated_sample_mailbox(now, timezone=COPENHAGEN)
    assert [m.message_id for m in dated.messages] == [m.message_id for m in original.messages]
    before, after = (
        _dates([m.raw for m in original.messages]),
        _dates([m.raw for m in dated.messages]),
    )
    shifts = {b - a for a, b in zip(before, after, strict=True)}
    assert len(shifts) == 1  # one shift for every message: the spacing is kept
    newest = max(after)
    assert newest <= now
    assert newest.astimezone(COPENHAGEN).date() == now.astimezone(COPENHAGEN).date()
    assert now - newest <= timedelta(minutes=6)


async def _stats(settings: Settings, now: datetime) -> dict[str, int]:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            stats = await compute_stats(session, now=now, timezone=settings.timezone)
    finally:
        await engine.dispose()
    return {
        "new_today": stats.leads.new_today,
        "new_7d": stats.leads.new_7d,
        "new_30d": stats.leads.new_30d,
        "upcoming": stats.bookings.upcoming,
    }


@pytest.mark.parametrize("hour", [0, 11, 23])
async def test_every_dashboard_figure_has_data_right_after_the_demo(
    scratch_settings: Settings, hour: int
) -> None:
    now = datetime(2027, 3, 15, hour, 2, tzinfo=COPENHAGEN).astimezone(UTC)
    await load_demo_data(scratch_settings, now=now)
    figures = await _stats(scratch_settings, now)
    assert all(value > 0 for value in figures.values()), figures


async def test_loading_the_demo_again_on_a_later_day_adds_nothing(
    scratch_settings: Settings,
) -> None:
    now = datetime(2027, 3, 15, 12, 0, tzinfo=UTC)
    first = await load_demo_data(scratch_settings, now=now)
    again = await load_demo_data(scratch_settings, now=now + timedelta(days=3))
    assert again == first


async def test_the_demo_refuses_a_database_holding_another_mailbox(
    scratch_settings: Settings,
) -> None:
    engine = create_engine(scratch_settings)
    try:
        await ensure_mailbox(
            create_sessionmaker(engine), email="someone@example.com", provider=MailProvider.GMAIL
        )
    finally:
        await engine.dispose()
    with pytest.raises(NotDemoData, match=r"someone@example\.com"):
        await load_demo_data(scratch_settings)


async def test_the_demo_does_not_migrate_a_database_it_refuses(
    bare_settings: Settings,
) -> None:
    engine = create_engine(bare_settings)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: run_upgrade(sync, "0001"))
        await ensure_mailbox(
            create_sessionmaker(engine), email="someone@example.com", provider=MailProvider.GMAIL
        )
    finally:
        await engine.dispose()
    with pytest.raises(NotDemoData):
        await load_demo_data(bare_settings)
    assert await current_schema_revision(bare_settings) == "0001"


def test_the_demo_and_the_cli_use_the_same_database(clean_env: Path) -> None:
    loaded = runner.invoke(app, ["demo", "--no-serve"])
    assert loaded.exit_code == 0, loaded.output
    matched = runner.invoke(app, ["match"])
    stats = runner.invoke(app, ["db", "stats", "--json"])
    assert matched.exit_code == 0, matched.output
    assert matched.stderr.startswith("examined ")
    assert stats.exit_code == 0, stats.output
    assert '"customers"' in stats.stdout
    data = clean_env / "data"
    assert (data / "leadflow.db").exists()
    assert (data / "demo-token").exists()
    assert not (data / "demo.db").exists()


def test_a_busy_port_is_one_line_before_anything_else(clean_env: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["demo", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"port {port} on 127.0.0.1 is already in use: stop what listens there or choose "
        "another port (--port, or `make demo PORT=...`)"
    ]
    assert not (clean_env / "data").exists()  # nothing loaded, no token made


def test_the_banner_labels_the_docs_and_keeps_each_line_whole() -> None:
    url = "http://127.0.0.1:8000"
    token = "t" * 40
    lines = demo_banner(url, token)
    assert any(line.startswith("API docs:") and "interactive" in line for line in lines)
    assert not any("OpenAPI:" in line for line in lines)
    assert f'curl -H "Authorization: Bearer {token}" {url}/api/dashboard/stats' in lines[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_make_demo_takes_host_and_port() -> None:
    root = Path(__file__).resolve().parents[1]
    dry = subprocess.run(
        ["make", "-n", "demo", "PORT=9123", "HOST=0.0.0.0"],  # noqa: S607 - make on PATH
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "leadflow demo --host 0.0.0.0 --port 9123" in dry.stdout


@pytest.mark.slow
def test_the_served_demo_answers_the_printed_curl_line(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLOW_")}
    env["COLUMNS"] = "60"  # a narrow terminal width must not wrap the banner either
    script = Path(sys.executable).parent / "leadflow"
    with subprocess.Popen(  # noqa: S603 - our own entry point
        [str(script), "demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            _check_served_demo(process, port)
        finally:
            process.terminate()
            process.wait(timeout=30)


def _check_served_demo(process: subprocess.Popen[str], port: int) -> None:
    assert process.stdout is not None
    banner = [process.stdout.readline().rstrip("\n") for _ in range(5)]
    assert banner[0] == f"Dashboard: http://127.0.0.1:{port}/dashboard (log in with the token)"
    assert banner[1] == f"API:       http://127.0.0.1:{port}/api/customers"
    token = banner[3].removeprefix("Token:").strip()
    assert banner[4].endswith(f"http://127.0.0.1:{port}/api/dashboard/stats")
    url = banner[4].split()[-1]
    # The socket listens before the banner is printed: a connection waits, never refused.
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        answer = http.get(url)
        docs = http.get(f"http://127.0.0.1:{port}/docs")
        dashboard = http.get(banner[0].split()[1], follow_redirects=True)
    assert answer.status_code == 200
    leads = answer.json()["leads"]
    assert min(leads["new_today"], leads["new_7d"], leads["new_30d"]) > 0
    assert docs.status_code == 200
    assert dashboard.status_code == 200  # the login page
    assert "text/html" in dashboard.headers["content-type"]
