"""Issue #4: `match_threads` at scale — 200,000 threads against 20,000 customers.

Creates a scratch database (PostgreSQL postgres@127.0.0.1, trust, a uniquely named database
dropped afterwards; or a temporary SQLite file), migrates it, and fills it with set-based
INSERT … SELECT statements (no per-row Python). Threads by `id % 20`:

- 0–7 (40 %): a customer's email is a participant (exact_email); 0–3 also hold an outbound reply;
- 8 (5 %): a lead email from a platform address, with a lead row (half already linked);
- 9–10 (10 %): an unknown sender replying (In-Reply-To/References) to a message of a class-1 thread;
- 11 (5 %): an unknown sender writes a customer's phone number in the body;
- 12 (5 %): a colleague at a customer's unique company domain; 13 (5 %): at a domain shared by
  many customers (ambiguous);
- 14–19 (30 %): noise (newsletters; bodies with order numbers and quoted history).

Then times `match_threads` (plus the commit): runs of the first kind match every thread from
scratch (`only_unmatched=True` on a fresh or reset table; the reset is not timed), runs of the
second kind re-evaluate every thread (`only_unmatched=False`) and change nothing. Reports
medians of wall and process CPU time, SQL statements executed (cursor executions; an
executemany counts once) and peak RSS. Process CPU excludes the PostgreSQL server's work; with
SQLite it includes the database's, which runs in this process.

Usage: uv run python -m bench.matching_scale [--customers 20000] [--threads 200000]
       [--db postgresql|sqlite] [--runs 3]
"""

# The SQL below is built from our own constants and integers only, never from input text.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.sync_common import USER, scratch_database
from leadflow.db import create_engine, create_sessionmaker
from leadflow.matching.schemas import MatchReport
from leadflow.matching.service import match_threads
from leadflow.migrations import run_upgrade
from leadflow.models import Mailbox, MailProvider
from leadflow.settings import Settings

MAILBOX_ID = 1
FILLER = (
    "Hej Rendetalje\n\nVi har et spørgsmål om jeres rengøring og vil gerne høre nærmere om priser "
    "og ledige tider i de kommende uger. Vores adresse er Eksempelvej 12, 8000 Aarhus C.\n\n"
    "Med venlig hilsen\n\nDen 3. okt. 2026 kl. 10:12 skrev Rendetalje:\n"
    "> Tak for din henvendelse. Du kan altid ringe på 22 33 44 55.\n"
)
NUMBERS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "


def _s(expr: str) -> str:
    return f"CAST({expr} AS TEXT)"


def _customer_email(i: str) -> str:
    """Customer `i`'s address: unique company domains, shared company domains, free-mail."""
    return (
        f"CASE WHEN ({i}) % 10 = 0 THEN 'kontakt' || {_s(i)} || '@firma' || {_s(i)} || '.dk' "
        f"WHEN ({i}) % 10 = 5 THEN 'person' || {_s(i)} || '@gruppe' || {_s(f'({i}) % 500')}"
        " || '.dk' "
        f"WHEN ({i}) % 2 = 0 THEN 'kunde' || {_s(i)} || '@gmail.com' "
        f"ELSE 'kunde' || {_s(i)} || '@hotmail.dk' END"
    )


def _statements(arr: str, customers: int, threads: int) -> list[tuple[str, int]]:
    """The data set as INSERT … SELECT statements (with their row count `n`); `arr` is the
    dialect's JSON array function."""
    c = f"((i * 7919) % {customers}) + 1"  # a customer for thread i, scattered
    firm = f"((i * 7919) % {customers // 10}) * 10 + 10"  # a customer with a unique domain
    us = "'info@rendetalje.dk'"
    participant = (
        f"CASE WHEN i % 20 < 8 THEN {_customer_email(c)} "
        "WHEN i % 20 = 8 THEN 'noreply@leadmail.no' "
        f"WHEN i % 20 IN (9, 10) THEN 'ukendt' || {_s('i')} || '@gmail.com' "
        f"WHEN i % 20 = 11 THEN 'ukendt' || {_s('i')} || '@hotmail.com' "
        f"WHEN i % 20 = 12 THEN 'anden' || {_s('i')} || '@firma' || {_s(firm)} || '.dk' "
        f"WHEN i % 20 = 13 THEN 'medarbejder' || {_s('i')} || '@gruppe' "
        f"|| {_s('(i % 50) * 10 + 5')} || '.dk' "
        f"ELSE 'nyhedsbrev@shop' || {_s('i % 1000')} || '.dk' END"
    )
    parent = f"'<m' || {_s('i - i % 20 + 1')} || '@bench.example>'"
    body = (
        f"CASE WHEN i % 20 = 11 THEN 'Ring gerne på ' || {_s(f'20000000 + {c}')} || '. ' "
        f"WHEN i % 20 >= 14 THEN 'Ordre-nr: ' || {_s('30000000 + i')} || '. ' "
        "ELSE '' END || CAST(:filler AS TEXT)"
    )
    now = "CURRENT_TIMESTAMP"
    statements = [
        NUMBERS + "INSERT INTO customers (id, name, email, phone, status, tags, total_leads, "
        "total_bookings, created_at, updated_at) "
        f"SELECT i, 'Kunde ' || {_s('i')}, {_customer_email('i')}, "
        f"'+45' || {_s('20000000 + i')}, 'active', {arr}(), 0, 0, {now}, {now} "
        "FROM n",
        NUMBERS + "INSERT INTO email_threads (id, mailbox_id, gmail_thread_id, subject, "
        "participants, labels, message_count, created_at, updated_at) "
        f"SELECT i, {MAILBOX_ID}, 't' || {_s('i')}, 'Henvendelse ' || {_s('i')}, "
        f"{arr}({participant}, {us}), {arr}('INBOX'), "
        f"CASE WHEN i % 20 < 4 THEN 2 ELSE 1 END, {now}, {now} FROM n",
        NUMBERS + "INSERT INTO email_messages (id, thread_id, mailbox_id, gmail_message_id, "
        'rfc822_message_id, in_reply_to, "references", from_address, to_addresses, '
        "cc_addresses, reply_to_addresses, subject, body_text, direction, labels, attachments, "
        "created_at) "
        f"SELECT i, i, {MAILBOX_ID}, 'g' || {_s('i')}, '<m' || {_s('i')} || '@bench.example>', "
        f"CASE WHEN i % 20 IN (9, 10) THEN {parent} END, "
        f"CASE WHEN i % 20 IN (9, 10) THEN {arr}({parent}) ELSE {arr}() END, "
        f"{participant}, {arr}({us}), {arr}(), {arr}(), 'Henvendelse', {body}, 'inbound', "
        f"{arr}('INBOX'), {arr}(), {now} FROM n",
        NUMBERS + "INSERT INTO email_messages (id, thread_id, mailbox_id, gmail_message_id, "
        'rfc822_message_id, in_reply_to, "references", from_address, to_addresses, '
        "cc_addresses, reply_to_addresses, subject, body_text, direction, labels, attachments, "
        "created_at) "
        f"SELECT :count + i, i, {MAILBOX_ID}, 'r' || {_s('i')}, "
        f"'<r' || {_s('i')} || '@rendetalje.dk>', '<m' || {_s('i')} || '@bench.example>', "
        f"{arr}('<m' || {_s('i')} || '@bench.example>'), {us}, {arr}({participant}), "
        f"{arr}(), {arr}(), 'Sv: Henvendelse', 'Tak for din besked, vi vender tilbage.', "
        f"'outbound', {arr}('SENT'), {arr}(), {now} FROM n WHERE i % 20 < 4",
        NUMBERS + "INSERT INTO leads (id, customer_id, source, email, status, needs_review, "
        "mailbox_id, gmail_message_id, gmail_thread_id, created_at, updated_at) "
        f"SELECT i, CASE WHEN i % 40 = 8 THEN {c} END, 'Rengøring.nu', {_customer_email(c)}, "
        f"'new', false, {MAILBOX_ID}, 'g' || {_s('i')}, 't' || {_s('i')}, {now}, {now} "
        "FROM n WHERE i % 20 = 8",
    ]
    return [(sql, customers if i == 0 else threads) for i, sql in enumerate(statements)]


async def build(engine: AsyncEngine, customers: int, threads: int) -> None:
    """Migrate and fill the scratch database in a handful of set-based statements."""
    async with engine.connect() as conn:
        await conn.run_sync(run_upgrade)
        await conn.commit()
    arr = "jsonb_build_array" if engine.dialect.name == "postgresql" else "json_array"
    async with create_sessionmaker(engine)() as session:
        session.add(Mailbox(id=MAILBOX_ID, email=USER, provider=MailProvider.GMAIL))
        await session.flush()
        for statement, count in _statements(arr, customers, threads):
            await session.execute(text(statement), {"count": count, "filler": FILLER})
        await session.commit()
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()


RESET = (
    "UPDATE email_threads SET customer_id = NULL, is_matched = false, matched_at = NULL, "
    "matched_by = NULL, confidence = NULL, match_note = NULL"
)


@dataclass
class Run:
    kind: str
    wall: float
    cpu: float
    statements: int
    report: MatchReport


async def measure(
    engine: AsyncEngine, settings: Settings, counter: list[int], *, only_unmatched: bool
) -> Run:
    """One timed `match_threads` call and its commit, in its own session."""
    counter[0] = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    async with create_sessionmaker(engine)() as session:
        report = await match_threads(session, settings=settings, only_unmatched=only_unmatched)
        await session.commit()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    kind = "match (only_unmatched=True)" if only_unmatched else "re-evaluate (only_unmatched=False)"
    return Run(kind, wall, cpu, counter[0], report)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bench(url: str, args: argparse.Namespace) -> None:
    settings = Settings(
        _env_file=None,
        database_url=url,
        gmail_user=USER,
        redis_url=None,
        db_statement_timeout=3600,
    )
    engine = create_engine(settings, application_name="leadflow-bench")
    counter = [0]

    def count(*_: Any) -> None:
        counter[0] += 1

    try:
        started = time.perf_counter()
        await build(engine, args.customers, args.threads)
        print(f"set-up {time.perf_counter() - started:.1f} s; RSS {_rss_mb():.1f} MB", flush=True)
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        runs: list[Run] = []
        for number in range(args.runs):
            if number:
                async with engine.begin() as conn:
                    await conn.execute(text(RESET))
            for only_unmatched in (True, False):
                run = await measure(engine, settings, counter, only_unmatched=only_unmatched)
                runs.append(run)
                print(
                    f"{run.kind}: {run.wall:.2f} s wall, {run.cpu:.2f} s CPU, "
                    f"{run.statements} statements, {run.report.model_dump()}",
                    flush=True,
                )
    finally:
        await engine.dispose()
    print(f"\n{args.customers} customers × {args.threads} threads, {args.db}, runs {args.runs}")
    print("| run | wall s (median) | CPU s (median) | statements | examined | matched | changed |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind in dict.fromkeys(run.kind for run in runs):
        same = [run for run in runs if run.kind == kind]
        statements = "/".join(sorted({str(run.statements) for run in same}))
        print(
            f"| {kind} | {statistics.median(r.wall for r in same):.2f} "
            f"| {statistics.median(r.cpu for r in same):.2f} | {statements} "
            f"| {same[0].report.examined} | {same[0].report.matched} | {same[0].report.changed} |"
        )
    first = runs[0].report
    print(f"by rule: {first.matched_by_rule}; ambiguous {first.ambiguous}")
    print(f"peak RSS {_rss_mb():.1f} MB; load {os.getloadavg()[0]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=200_000)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.customers < 500 or args.threads < 20:
        parser.error("use at least 500 customers and 20 threads")
    print(f"load {os.getloadavg()[0]:.2f}", flush=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(args.db, Path(tmp)) as url,
    ):
        asyncio.run(bench(url, args))


if __name__ == "__main__":
    main()
