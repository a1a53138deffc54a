"""Metric families read from the database at scrape time: sync runs per mailbox, leads by source.

The sync may run in another process (`leadflow worker`) than the one scraped, so its figures
come from what it committed (`email_ingest_runs`, `mailboxes`, `leads`), not from memory. The
row counts only grow (a run's counters are rewritten with larger values; finished runs are
final), so they are exposed as counters. Runs still `running` are a gauge of their own.
The lead response-time gauges are the dashboard's figures by the dashboard's own query
(`dashboard.service.response_time_stats`), read fresh at each scrape.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow.dashboard.schemas import ResponseTimeStats
from leadflow.models import EmailIngestRun, IngestStatus, Lead, Mailbox


@dataclass(frozen=True, slots=True)
class RunGroup:
    mailbox: str
    mode: str
    status: str
    runs: int
    seen: int
    new: int
    updated: int
    errors: int
    retries: int
    api_calls: int


@dataclass
class DatabaseFigures:
    up: bool = True
    run_groups: list[RunGroup] = field(default_factory=list)
    last_success: dict[str, float] = field(default_factory=dict)
    consecutive_failures: dict[str, int] = field(default_factory=dict)
    leads_by_source: dict[str, int] = field(default_factory=dict)
    response_times: ResponseTimeStats | None = None


async def read_database_figures(engine: AsyncEngine) -> DatabaseFigures:
    """Four grouped queries on one connection."""
    figures = DatabaseFigures()
    run = EmailIngestRun
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                Mailbox.email,
                run.mode,
                run.status,
                func.count(run.id),
                func.coalesce(func.sum(run.total_emails), 0),
                func.coalesce(func.sum(run.new_emails), 0),
                func.coalesce(func.sum(run.updated_emails), 0),
                func.coalesce(func.sum(run.errors), 0),
                func.coalesce(func.sum(run.retries), 0),
                func.coalesce(func.sum(run.api_calls), 0),
            )
            .join(Mailbox, Mailbox.id == run.mailbox_id)
            .group_by(Mailbox.email, run.mode, run.status)
        )
        for email, mode, status, *numbers in rows:
            figures.run_groups.append(
                RunGroup(email, str(mode), str(status), *(int(n) for n in numbers))
            )
        for email, succeeded_at in await conn.execute(
            select(Mailbox.email, Mailbox.last_sync_succeeded_at)
        ):
            figures.consecutive_failures[email] = 0
            if succeeded_at is not None:
                figures.last_success[email] = succeeded_at.timestamp()
        failures = await conn.execute(
            select(Mailbox.email, func.count(run.id))
            .join(Mailbox, Mailbox.id == run.mailbox_id)
            .where(
                run.status == IngestStatus.FAILED,
                or_(
                    Mailbox.last_sync_succeeded_at.is_(None),
                    run.started_at > Mailbox.last_sync_succeeded_at,
                ),
            )
            .group_by(Mailbox.email)
        )
        figures.consecutive_failures.update({email: int(n) for email, n in failures})
        leads = await conn.execute(select(Lead.source, func.count(Lead.id)).group_by(Lead.source))
        figures.leads_by_source = {source: int(n) for source, n in leads}
    return figures


class DatabaseCollector:
    """Yields the families of one `DatabaseFigures` reading."""

    def __init__(self, figures: DatabaseFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        f = self.figures
        up = GaugeMetricFamily(
            "leadflow_metrics_database_up",
            "1 when the database answered this scrape's queries (sync and lead figures below).",
        )
        up.add_metric([], 1.0 if f.up else 0.0)
        yield up
        if not f.up:
            return
        yield from self._runs()
        last = GaugeMetricFamily(
            "leadflow_sync_last_success_timestamp_seconds",
            "When the mailbox's last successful sync finished (Unix time).",
            labels=["mailbox"],
        )
        for mailbox, stamp in sorted(f.last_success.items()):
            last.add_metric([mailbox], stamp)
        yield last
        failing = GaugeMetricFamily(
            "leadflow_sync_consecutive_failures",
            "Failed sync runs since the mailbox's last successful one.",
            labels=["mailbox"],
        )
        for mailbox, count in sorted(f.consecutive_failures.items()):
            failing.add_metric([mailbox], count)
        yield failing
        leads = CounterMetricFamily(
            "leadflow_leads_created", "Leads created, by lead source.", labels=["source"]
        )
        for source, count in sorted(f.leads_by_source.items()):
            leads.add_metric([source], count)
        yield leads
        if f.response_times is not None:
            yield from _response_time_families(f.response_times)

    def _runs(self) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "leadflow_sync_runs",
            "Finished sync runs by mailbox, mode and outcome (completed, partial, failed).",
            labels=["mailbox", "mode", "status"],
        )
        running = GaugeMetricFamily(
            "leadflow_sync_runs_in_progress", "Sync runs now running.", labels=["mailbox"]
        )
        messages = CounterMetricFamily(
            "leadflow_sync_messages",
            "Messages handled by syncs: seen, new (stored) and updated.",
            labels=["mailbox", "kind"],
        )
        per_mailbox = {
            "errors": CounterMetricFamily(
                "leadflow_sync_message_errors",
                "Messages a sync could not store (recorded in the run's error log).",
                labels=["mailbox"],
            ),
            "retries": CounterMetricFamily(
                "leadflow_sync_retries", "Gmail calls syncs sent again.", labels=["mailbox"]
            ),
            "api_calls": CounterMetricFamily(
                "leadflow_sync_api_calls", "Gmail API calls made by syncs.", labels=["mailbox"]
            ),
        }
        totals: dict[str, dict[str, int]] = {}
        in_progress: dict[str, int] = {}
        for g in self.figures.run_groups:
            if g.status == IngestStatus.RUNNING.value:
                in_progress[g.mailbox] = in_progress.get(g.mailbox, 0) + g.runs
            else:
                runs.add_metric([g.mailbox, g.mode, g.status], g.runs)
            t = totals.setdefault(
                g.mailbox,
                dict.fromkeys(("seen", "new", "updated", "errors", "retries", "api_calls"), 0),
            )
            for key in t:
                t[key] += getattr(g, key)
        for mailbox in sorted(totals):
            running.add_metric([mailbox], in_progress.get(mailbox, 0))
            for kind in ("seen", "new", "updated"):
                messages.add_metric([mailbox, kind], totals[mailbox][kind])
            for key, family in per_mailbox.items():
                family.add_metric([mailbox], totals[mailbox][key])
        yield runs
        yield running
        yield messages
        yield from per_mailbox.values()


def _response_time_families(stats: ResponseTimeStats) -> Iterator[Metric]:
    """The dashboard's response-time figures (`dashboard.service`), in seconds."""
    windows = (("7d", stats.last_7d), ("30d", stats.last_30d))
    answered = GaugeMetricFamily(
        "leadflow_leads_answered",
        "Leads received in the window (calendar days, business time zone) that were answered.",
        labels=["window"],
    )
    median = GaugeMetricFamily(
        "leadflow_lead_response_median_seconds",
        "Median time from a lead's arrival to the first answer, over the window's answered leads.",
        labels=["window"],
    )
    p90 = GaugeMetricFamily(
        "leadflow_lead_response_p90_seconds",
        "90th percentile of the same.",
        labels=["window"],
    )
    for name, window in windows:
        answered.add_metric([name], window.answered)
        if window.median_minutes is not None and window.p90_minutes is not None:
            median.add_metric([name], window.median_minutes * 60)
            p90.add_metric([name], window.p90_minutes * 60)
    yield answered
    yield median
    yield p90
    target = GaugeMetricFamily(
        "leadflow_lead_response_target_seconds", "LEADFLOW_RESPONSE_TARGET_MINUTES, in seconds."
    )
    target.add_metric([], stats.target_minutes * 60)
    yield target
    waiting = GaugeMetricFamily(
        "leadflow_leads_awaiting_reply", "New leads nobody has answered yet."
    )
    waiting.add_metric([], stats.waiting)
    yield waiting
    late = GaugeMetricFamily(
        "leadflow_leads_awaiting_reply_past_target",
        "New leads waiting for an answer for longer than the response target.",
    )
    late.add_metric([], stats.waiting_past_target)
    yield late
