"""Score lead extraction and thread matching (issues #4 and #9).

Three parts, each on its own scratch SQLite database (or --database-url, for one part):

1. The labelled sample mailbox (`leadflow.maintenance.sample_mailbox`) imported through the
   real pipeline (mbox import: parse → store → leads → matching) and compared with its truth:
   every lead email exactly one lead, none from other mail, per-field accuracy, matching
   precision (matched threads on the right customer) and recall (of matchable threads).
2. `--generated N` lead mails from the test generator (`tests.lead_mails`, independent of the
   sample), read as the pipeline reads them (MIME, then the lead parsers): per-field exact
   reads, invented values, exceptions, and the parsing cost per mail (median µs).
3. `--generated-e2e M` generated lead mails with their customers' later mail (replies, own
   threads, a phone from another address) through the pipeline, scored as in 1.

Usage: uv run python -m bench.evaluate_leads [--seed 2026] [--customers 400]
       [--generated 10000] [--generated-e2e 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.lead_mails.mailbox import generated_mailbox

from bench.generated_leads import score_generated
from leadflow.db import create_engine, create_sessionmaker
from leadflow.mail.mime import normalise_message_id
from leadflow.maintenance.sample_mailbox import OWN_ADDRESS, SampleMailbox, build_sample_mailbox
from leadflow.maintenance.schema import upgrade_database
from leadflow.models import Customer, EmailMessage, EmailThread, Lead
from leadflow.settings import Settings
from leadflow.sync.job import import_mbox

LEAD_FIELDS = (
    "source", "name", "email", "phone", "address", "postal_code", "city", "square_meters",
    "rooms", "floor", "property_type", "task_type", "contact_type", "preferred_date",
    "preferred_date_text", "message", "details", "received_at", "needs_review",
)  # fmt: skip


@dataclass
class Score:
    lead_emails: int = 0
    leads_exactly_once: int = 0
    leads_missing: int = 0
    leads_twice: int = 0
    leads_from_non_lead_mail: int = 0
    duplicates_expected: int = 0
    duplicates_flagged: int = 0
    field_total: Counter[str] = field(default_factory=Counter)
    field_right: Counter[str] = field(default_factory=Counter)
    field_errors: list[str] = field(default_factory=list)
    matchable_threads: int = 0
    unmatchable_threads: int = 0
    matched_right: int = 0
    matched_wrong: int = 0
    matched_unmatchable: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    thread_misses: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [
            f"lead emails: {self.lead_emails}; exactly one lead: {self.leads_exactly_once} "
            f"({_pct(self.leads_exactly_once, self.lead_emails)}); missing {self.leads_missing}; "
            f"more than one {self.leads_twice}",
            f"leads from non-lead mail: {self.leads_from_non_lead_mail}",
            f"duplicates flagged: {self.duplicates_flagged} of {self.duplicates_expected}",
            "per-field accuracy (right / compared):",
        ]
        for name in LEAD_FIELDS:
            total = self.field_total[name]
            if total:
                right = self.field_right[name]
                lines.append(f"  {name:15} {right:5d} / {total:5d}  {_pct(right, total)}")
        matched = self.matched_right + self.matched_wrong + self.matched_unmatchable
        lines += [
            f"threads: {self.matchable_threads} matchable, {self.unmatchable_threads} not",
            f"matching precision: {self.matched_right} right of {matched} matched "
            f"({_pct(self.matched_right, matched)}); wrong customer {self.matched_wrong}, "
            f"matched but should not be {self.matched_unmatchable}",
            f"matching recall: {self.matched_right} of {self.matchable_threads} matchable "
            f"({_pct(self.matched_right, self.matchable_threads)})",
            "matched by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_rule.items())),
        ]
        lines += [f"  field error: {e}" for e in self.field_errors[:20]]
        lines += [f"  recall miss: {e}" for e in self.thread_misses[:20]]
        return "\n".join(lines)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f} %" if whole else "n/a"


async def evaluate(settings: Settings, box: SampleMailbox, *, workdir: Path) -> Score:
    """Import `box` through the pipeline into the settings' database and score the outcome."""
    mbox = workdir / "sample.mbox"
    mbox.write_bytes(box.mbox_bytes())
    await upgrade_database(settings)
    engine = create_engine(settings, application_name="leadflow-bench")
    sessionmaker = create_sessionmaker(engine)
    try:
        result = await import_mbox(settings, sessionmaker, path=mbox, mailbox_email=OWN_ADDRESS)
        if not result.ok:
            raise SystemExit(f"import failed: {result.error}")
        async with sessionmaker() as session:
            rows, leads = await load_outcome(session)
    finally:
        await engine.dispose()
    return score_against_truth(box, rows, leads)


async def load_outcome(session: AsyncSession) -> tuple[list[Any], list[Lead]]:
    """What the pipeline stored: (message → thread → customer rows, leads)."""
    rows = (
        await session.execute(
            select(EmailMessage.rfc822_message_id, EmailMessage.gmail_message_id,
                   EmailThread.id, EmailThread.is_matched, EmailThread.matched_by,
                   Customer.email)
            .join(EmailThread, EmailThread.id == EmailMessage.thread_id)
            .outerjoin(Customer, Customer.id == EmailThread.customer_id)
        )
    ).all()  # fmt: skip
    leads = list((await session.execute(select(Lead))).scalars().all())
    return list(rows), leads


def score_against_truth(box: SampleMailbox, rows: Sequence[Any], leads: Sequence[Lead]) -> Score:
    """Compare stored leads and thread matches with the sample's ground truth."""
    score = Score()
    by_rfc = {normalise_message_id(r[0]): r for r in rows}
    leads_by_gmail_id: dict[str, list[Lead]] = {}
    for lead in leads:
        leads_by_gmail_id.setdefault(lead.gmail_message_id or "", []).append(lead)
    expected_thread_customer: dict[int, str | None] = {}
    for sample in box.messages:
        row = by_rfc.get(normalise_message_id(sample.message_id))
        if row is None:
            raise SystemExit(f"message {sample.message_id} was not stored")
        _rfc, gmail_id, thread_id, *_rest = row
        expected_thread_customer.setdefault(thread_id, sample.customer_email)
        made = leads_by_gmail_id.get(gmail_id, [])
        if sample.lead is None:
            score.leads_from_non_lead_mail += len(made)
            continue
        score.lead_emails += 1
        if not made:
            score.leads_missing += 1
            continue
        if len(made) > 1:
            score.leads_twice += 1
            continue
        score.leads_exactly_once += 1
        lead = made[0]
        if sample.lead.get("duplicate"):
            score.duplicates_expected += 1
            score.duplicates_flagged += int(lead.duplicate_of_id is not None)
        for name in LEAD_FIELDS:
            if name not in sample.lead and name != "needs_review":
                continue
            if not hasattr(Lead, name):
                continue  # an older schema (the same command scores code before a change)
            want = sample.lead.get(name, False if name == "needs_review" else None)
            got = getattr(lead, name)
            score.field_total[name] += 1
            if got == want:
                score.field_right[name] += 1
            else:
                score.field_errors.append(f"{sample.message_id} {name}: want {want!r} got {got!r}")
    seen: set[int] = set()
    for _rfc, _gid, thread_id, is_matched, matched_by, customer_email in rows:
        if thread_id in seen:
            continue
        seen.add(thread_id)
        want = expected_thread_customer.get(thread_id)
        if want is None:
            score.unmatchable_threads += 1
            if is_matched:
                score.matched_unmatchable += 1
            continue
        score.matchable_threads += 1
        if is_matched:
            score.by_rule[matched_by or "?"] += 1
            if customer_email == want:
                score.matched_right += 1
            else:
                score.matched_wrong += 1
        else:
            score.thread_misses.append(f"thread of {_rfc}: want {want}, left unmatched")
    return score


def _settings(url: str | None, workdir: Path, name: str) -> Settings:
    url = url or f"sqlite:///{workdir / name}"
    return Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--customers", type=int, default=400, help="0 skips the sample mailbox")
    parser.add_argument("--generated", type=int, default=10_000, help="0 skips part 2")
    parser.add_argument("--generated-e2e", type=int, default=2_000, help="0 skips part 3")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.customers:
            box = build_sample_mailbox(seed=args.seed, customers=args.customers)
            settings = _settings(args.database_url, workdir, "sample.db")
            score = asyncio.run(evaluate(settings, box, workdir=workdir))
            print(f"== labelled sample: seed {args.seed}, {args.customers} customers")
            print(score.report())
        if args.generated:
            print(f"== generated lead mails, read as the pipeline reads them: seed {args.seed}")
            print(score_generated(seed=args.seed, count=args.generated).report())
        if args.generated_e2e:
            box, _ = generated_mailbox(seed=args.seed, leads=args.generated_e2e)
            settings = _settings(args.database_url, workdir, "generated.db")
            score = asyncio.run(evaluate(settings, box, workdir=workdir))
            print(f"== generated end to end: seed {args.seed}, {args.generated_e2e} lead mails")
            print(score.report())


if __name__ == "__main__":
    main()
