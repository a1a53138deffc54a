"""deploy/: the alert rules pass promtool, and rules and dashboard use metrics /metrics serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import EmailIngestRun, IngestMode, IngestStatus, Lead, Mailbox, MailProvider
from leadflow.monitoring.metrics.gmail import record_gmail_counters
from leadflow.sync.gmail import GmailStats
from tests.monitoring.promtool import check_rules

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
RULES = DEPLOY / "prometheus-alerts.yml"
DASHBOARD = DEPLOY / "grafana-dashboard.json"
_NAME = re.compile(r"\b((?:leadflow|process)_[a-z0-9_]+)")


def test_the_alert_rules_pass_promtool() -> None:
    result = check_rules(RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    for alert in (
        "LeadflowSyncFailing",
        "LeadflowSyncStale",
        "LeadflowCacheOnFallback",
        "LeadflowHigh5xxRate",
        "LeadflowHighP99Latency",
    ):
        assert f"alert: {alert}" in RULES.read_text()


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["panels"]
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert all(exprs)
    return exprs


async def test_rules_and_dashboard_only_name_metrics_that_exist(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    mailbox = Mailbox(email="info@rendetalje.dk", provider=MailProvider.GMAIL)
    session.add(mailbox)
    await session.flush()
    mailbox.last_sync_succeeded_at = mailbox.created_at
    session.add(
        EmailIngestRun(mailbox_id=mailbox.id, mode=IngestMode.FULL, status=IngestStatus.COMPLETED)
    )
    session.add(Lead(source="website"))
    await session.commit()
    record_gmail_counters(GmailStats(units_used=5, throttled=1))
    for _ in range(2):  # the app's real cache: a miss, then a hit
        await client.get("/api/customers")
    exposition = (await client.get("/metrics")).text
    served = set(re.findall(r"^([a-z_:][a-z0-9_:]*)", exposition, re.MULTILINE))
    # Declared families count too (a labelled counter has no sample before its first use).
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)", exposition, re.MULTILINE):
        served.add(name)
        if kind == "histogram":
            served |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    used = set(_NAME.findall(RULES.read_text()))
    for expr in _dashboard_exprs():
        used |= set(_NAME.findall(expr))
    assert used
    assert used - served == set()
