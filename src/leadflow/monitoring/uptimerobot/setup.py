"""`leadflow monitoring setup`: make UptimeRobot match what leadflow needs, idempotently.

Wanted: one web-hook alert contact (type 5) at PUBLIC_URL/webhooks/uptimerobot?token=SECRET
with the alert variables in its query string, and one HTTP(s) monitor (type 1) each for
/health/ready and /health/live with that contact attached and the configured interval.
Existing things are found by URL (monitors) and by web-hook address (contact), so a second run
creates nothing; a differing name, interval, contact address or a missing attachment is edited
in place (editMonitor, editAlertContact). A monitor on our URL with another type is reported
and left alone: UptimeRobot cannot change a monitor's type. Other monitors, other contacts and
contacts already attached to our monitors are never touched.

Calls: two reads, then one write per thing to create or change (at most 5), so a run fits the
free plan's 10 requests a minute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from leadflow.logs import SecretMasker
from leadflow.monitoring.uptimerobot.client import UptimeRobotClient

HTTP_MONITOR = 1
WEBHOOK_CONTACT = 5
WEBHOOK_PATH = "/webhooks/uptimerobot"
CONTACT_NAME = "leadflow web-hook"
ALERT_VARIABLES = (
    "monitorID",
    "monitorURL",
    "monitorFriendlyName",
    "alertType",
    "alertTypeFriendlyName",
    "alertDetails",
    "alertDuration",
    "alertDateTime",
)


@dataclass(frozen=True)
class WantedMonitor:
    friendly_name: str
    url: str


@dataclass(frozen=True)
class Wanted:
    contact_url: str
    interval: int
    monitors: tuple[WantedMonitor, ...]
    contact_name: str = CONTACT_NAME


@dataclass(frozen=True)
class Step:
    action: str  # created | changed | kept | left alone
    kind: str  # alert contact | monitor
    name: str
    detail: str = ""


@dataclass
class SetupReport:
    dry_run: bool = False
    steps: list[Step] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for s in self.steps if s.action == action)


def wanted_state(public_url: str, secret: str, interval: int) -> Wanted:
    """What leadflow needs for a server at `public_url` (http or https, no query)."""
    parts = urlsplit(public_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query:
        raise ValueError(f"--public-url must be an http(s) URL without a query, not {public_url!r}")
    base = public_url.rstrip("/")
    query = "&".join([f"token={quote(secret, safe='')}"] + [f"{v}=*{v}*" for v in ALERT_VARIABLES])
    return Wanted(
        contact_url=f"{base}{WEBHOOK_PATH}?{query}",
        interval=max(60, interval),
        monitors=(
            WantedMonitor("leadflow ready", f"{base}/health/ready"),
            WantedMonitor("leadflow live", f"{base}/health/live"),
        ),
    )


def _same_url(a: str | None, b: str) -> bool:
    return (a or "").rstrip("/") == b.rstrip("/")


def _hook_address(value: str | None) -> str:
    return (value or "").split("?", 1)[0].rstrip("/")


def _contact_ids(monitor: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(id, threshold, recurrence) of the contacts attached to `monitor`."""
    found = []
    for contact in monitor.get("alert_contacts") or []:
        if isinstance(contact, dict) and contact.get("id") is not None:
            found.append(
                (
                    str(contact["id"]),
                    str(contact.get("threshold", 0)),
                    str(contact.get("recurrence", 0)),
                )
            )
    return found


async def _ensure_contact(
    client: UptimeRobotClient, wanted: Wanted, contacts: Sequence[dict[str, Any]], dry_run: bool
) -> tuple[str | None, Step]:
    address = _hook_address(wanted.contact_url)
    ours = next(
        (
            c
            for c in contacts
            if str(c.get("type")) == str(WEBHOOK_CONTACT)
            and _hook_address(str(c.get("value"))) == address
        ),
        None,
    )
    if ours is None:
        if dry_run:
            return None, Step("created", "alert contact", wanted.contact_name, address)
        body = await client.call(
            "newAlertContact",
            type=WEBHOOK_CONTACT,
            value=wanted.contact_url,
            friendly_name=wanted.contact_name,
        )
        contact = body.get("alertcontact") or body.get("alert_contact") or {}
        return str(contact.get("id")), Step(
            "created", "alert contact", wanted.contact_name, address
        )
    contact_id = str(ours.get("id"))
    changes = []
    if ours.get("value") != wanted.contact_url:
        changes.append("web-hook address or token")
    if ours.get("friendly_name") != wanted.contact_name:
        changes.append(f"name {ours.get('friendly_name')!r} → {wanted.contact_name!r}")
    if not changes:
        return contact_id, Step("kept", "alert contact", wanted.contact_name, address)
    if not dry_run:
        await client.call(
            "editAlertContact",
            id=contact_id,
            value=wanted.contact_url,
            friendly_name=wanted.contact_name,
        )
    detail = ", ".join(changes)
    return contact_id, Step("changed", "alert contact", wanted.contact_name, detail)


async def _ensure_monitor(
    client: UptimeRobotClient,
    wanted: Wanted,
    target: WantedMonitor,
    monitors: Sequence[dict[str, Any]],
    contact_id: str | None,
    dry_run: bool,
) -> Step:
    existing = next((m for m in monitors if _same_url(m.get("url"), target.url)), None)
    ours = f"{contact_id}_0_0" if contact_id else None
    if existing is None:
        if not dry_run:
            await client.call(
                "newMonitor",
                type=HTTP_MONITOR,
                url=target.url,
                friendly_name=target.friendly_name,
                interval=wanted.interval,
                alert_contacts=ours,
            )
        detail = f"{target.url} every {wanted.interval} s"
        return Step("created", "monitor", target.friendly_name, detail)
    if str(existing.get("type")) != str(HTTP_MONITOR):
        detail = f"{target.url} has type {existing.get('type')}, which UptimeRobot cannot change"
        return Step("left alone", "monitor", str(existing.get("friendly_name")), detail)
    changes: dict[str, object] = {}
    notes = []
    if existing.get("friendly_name") != target.friendly_name:
        changes["friendly_name"] = target.friendly_name
        notes.append(f"name {existing.get('friendly_name')!r} → {target.friendly_name!r}")
    if int(existing.get("interval") or 0) != wanted.interval:
        changes["interval"] = wanted.interval
        notes.append(f"interval {existing.get('interval')} → {wanted.interval} s")
    attached = _contact_ids(existing)
    if contact_id is None or contact_id not in {cid for cid, _, _ in attached}:
        # Keep every contact already attached; add ours.
        keep = ["_".join(c) for c in attached]
        changes["alert_contacts"] = "-".join([*keep, ours] if ours else keep)
        notes.append("attach the web-hook contact")
    if not changes:
        return Step("kept", "monitor", target.friendly_name, target.url)
    if not dry_run:
        await client.call("editMonitor", id=existing.get("id"), **changes)
    return Step("changed", "monitor", target.friendly_name, ", ".join(notes))


async def run_setup(client: UptimeRobotClient, wanted: Wanted, *, dry_run: bool) -> SetupReport:
    """Bring UptimeRobot to `wanted` (or, with dry_run, only say what that would do)."""
    contacts = await client.alert_contacts()
    monitors = await client.monitors()
    report = SetupReport(dry_run=dry_run)
    contact_id, step = await _ensure_contact(client, wanted, contacts, dry_run)
    report.steps.append(step)
    for target in wanted.monitors:
        report.steps.append(
            await _ensure_monitor(client, wanted, target, monitors, contact_id, dry_run)
        )
    return report


_DRY = {"created": "would create", "changed": "would change"}


def render_step(step: Step, masker: SecretMasker, *, dry_run: bool) -> str:
    """One line of output; the web-hook token never appears in it."""
    action = _DRY.get(step.action, step.action) if dry_run else step.action
    line = f"{action:<13} {step.kind:<14} {step.name}"
    if step.detail:
        line += f"  ({step.detail})"
    return masker.mask(line)
