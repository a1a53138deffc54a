"""CPU cost of the sync pipeline per message: parse, then store + processors, on both databases.

Builds a synthetic mailbox (the sample mailbox's realistic lead mail and conversations, topped up
with plain replies for volume), then measures

- parse: `parse_message` per message, median over several runs (µs/message);
- store: `Pipeline.commit` (store_messages + lead and matching processors + run row) in batches
  of 200 into a scratch SQLite file and a scratch PostgreSQL database, plus the processors'
  end-of-sync work; messages/s by wall clock, and this process's CPU per message;
- peak RSS of the process.

Usage: uv run python -m bench.pipeline_cpu [--messages 5000] [--customers 400]
       [--existing-customers 2000] [--runs 3] [--skip-postgres] [--profile parse|sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import email.parser
import email.policy
import pstats
import random
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from leadflow.db import async_url, create_engine, create_sessionmaker
from leadflow.mail.message import ParsedMessage
from leadflow.maintenance.sample_mailbox import build_sample_mailbox
from leadflow.migrations import run_upgrade
from leadflow.models import Customer, IngestMode, Mailbox, MailProvider, utcnow
from leadflow.settings import Settings
from leadflow.sync.pipeline import (
    ParseOptions,
    Pipeline,
    RawMessage,
    default_processors,
    parse_raw,
)
from leadflow.sync.runs import RunRecorder

ADMIN_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
OWN = ("Rendetalje", "info@rendetalje.dk")
REPLIES = [
    "Hej\n\nTak for tilbuddet. Kan I komme torsdag i næste uge i stedet?\n\nMvh {name}",
    "Hej igen\n\nVi har en kat, er det et problem?\nRing gerne på {phone}.\n\nHilsen {name}",
    "Hej {first}\n\nSelvfølgelig. Vi bekræfter tiden i morgen.\n\nVenlig hilsen\nRendetalje",
    "Hej\n\nNøglen ligger under måtten. Husk også vinduerne i stuen.\n\n{name}",
]


@dataclass(frozen=True)
class Corpus:
    items: list[RawMessage]
    customers: int


def build_corpus(messages: int, customers: int, seed: int = 2026) -> Corpus:
    """Sample-mailbox mail plus generated replies in its threads, shuffled like a full sync."""
    box = build_sample_mailbox(seed, customers)
    rng = random.Random(seed)
    headers = email.parser.BytesParser(policy=email.policy.default)
    items: list[RawMessage] = []
    threads: list[tuple[str, str, str]] = []  # (thread key, message id, subject) with a customer
    for i, sample in enumerate(box.messages):
        head = headers.parsebytes(sample.raw, headersonly=True)
        sent = "Sent" in str(head.get("X-Gmail-Labels", ""))
        items.append(
            RawMessage(
                raw=sample.raw,
                gmail_message_id=f"s{i:06d}",
                gmail_thread_id=sample.thread_key,
                labels=("SENT",) if sent else ("INBOX",),
            )
        )
        if sample.customer_email:
            threads.append((sample.thread_key, sample.message_id, str(head["Subject"])))
    by_email = {c.email: c for c in box.customers}
    people = list(by_email.values())
    start = utcnow()
    for n in range(max(0, messages - len(items))):
        thread_key, parent, subject = rng.choice(threads)
        customer = rng.choice(people)
        ours = n % 2 == 1
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["From"] = formataddr(OWN if ours else (customer.name, customer.email))
        msg["To"] = formataddr((customer.name, customer.email) if ours else OWN)
        msg["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        msg["Date"] = format_datetime(start)
        msg["Message-ID"] = f"<reply-{n:06d}@mail.example.invalid>"
        msg["In-Reply-To"] = parent
        msg["References"] = parent
        body = rng.choice(REPLIES).format(
            name=customer.name, first=customer.name.split()[0], phone=customer.phone
        )
        for hop in range(rng.randint(3, 8)):  # real mail carries a chain of trace headers
            msg["Received"] = (
                f"from mx{hop}.mail.example.invalid (mx{hop}.mail.example.invalid [10.0.0.{hop}])"
                f" by mx.example.invalid with ESMTPS id x{n}y{hop}; {format_datetime(start)}"
            )
        msg["DKIM-Signature"] = "v=1; a=rsa-sha256; d=example.invalid; s=s1; b=" + "A" * 340
        msg["Content-Language"] = "da-DK"
        quoted = "\n> ".join(["Tidligere besked i tråden"] * rng.randint(1, 8))
        msg.set_content(f"{body}\n\n> {quoted}")
        paragraphs = "".join(f"<p>{line}</p>" for line in body.splitlines() if line)
        msg.add_alternative(
            f'<html><head><style>p{{margin:0}}</style></head><body><div dir="ltr">{paragraphs}'
            f"<blockquote>{quoted}</blockquote></div></body></html>",
            subtype="html",
        )
        items.append(
            RawMessage(
                raw=bytes(msg),
                gmail_message_id=f"r{n:06d}",
                gmail_thread_id=thread_key,
                labels=("SENT",) if ours else ("INBOX",),
            )
        )
    rng.shuffle(items)
    return Corpus(items=items[:messages], customers=customers)


def bench_parse(corpus: Corpus, runs: int) -> tuple[float, list[ParsedMessage]]:
    """Median µs per message of parse_message over `runs` passes."""
    options = ParseOptions()
    timings: list[float] = []
    parsed: list[ParsedMessage] = []
    for _ in range(runs):
        begin = time.process_time()
        parsed = [parse_raw(item, options) for item in corpus.items]
        timings.append((time.process_time() - begin) / len(corpus.items) * 1e6)
    return statistics.median(timings), parsed


@dataclass
class StoreResult:
    backend: str
    wall_s: float
    cpu_s: float
    finish_s: float
    messages: int

    @property
    def rate(self) -> float:
        return self.messages / self.wall_s


async def bench_store(
    database_url: str, parsed: Sequence[ParsedMessage], existing_customers: int, backend: str
) -> StoreResult:
    """Commit `parsed` in batches of 200 through the real Pipeline.commit (processors included)."""
    settings = Settings(_env_file=None, database_url=database_url, redis_url=None)  # type: ignore[call-arg]
    engine = create_engine(settings, application_name="bench-pipeline")
    try:
        async with engine.connect() as conn:
            await conn.run_sync(run_upgrade)
            await conn.commit()
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session, session.begin():
            mailbox = Mailbox(email="info@rendetalje.dk", provider=MailProvider.MBOX)
            session.add(mailbox)
            now = utcnow()
            customers = [
                {
                    "email": f"kunde{i}@kunde{i % 300}.example.dk",
                    "name": f"Kunde {i}",
                    "phone": f"+45{30000000 + i}",
                    "status": "active",
                    "tags": [],
                    "total_leads": 0,
                    "total_bookings": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(existing_customers)
            ]
            if customers:
                await session.execute(Customer.__table__.insert(), customers)  # type: ignore[attr-defined]
            await session.flush()
        run = await RunRecorder.start(sessionmaker, mailbox_id=mailbox.id, mode=IngestMode.MBOX)
        processors = default_processors(settings)
        pipeline = Pipeline(sessionmaker, mailbox, run, processors=processors)
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(parsed), 200):
            await pipeline.commit(parsed[start : start + 200])
        stored_wall = time.perf_counter()
        async with sessionmaker() as session, session.begin():
            for processor in processors:
                finish = getattr(processor, "finish", None)
                if finish is not None:
                    await finish(session, mailbox)
        end_wall, end_cpu = time.perf_counter(), time.process_time()
        return StoreResult(
            backend=backend,
            wall_s=stored_wall - wall,
            cpu_s=end_cpu - cpu,
            finish_s=end_wall - stored_wall,
            messages=len(parsed),
        )
    finally:
        await engine.dispose()


async def _admin(statement: str) -> None:
    engine = create_async_engine(async_url(ADMIN_PG), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def run_backend(
    backend: str, parsed: Sequence[ParsedMessage], existing_customers: int
) -> StoreResult:
    """Run bench_store against a fresh scratch database of `backend`, dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            return await bench_store(url, parsed, existing_customers, backend)
    name = f"leadflow_bench_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        url = ADMIN_PG.rsplit("/", 1)[0] + f"/{name}"
        return await bench_store(url, parsed, existing_customers, backend)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _profile(label: str, fn: object) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()  # type: ignore[operator]
    profiler.disable()
    print(f"\n--- cProfile: {label} (top 30 by own time) ---")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    print(f"\n--- cProfile: {label} (top 30 by cumulative time) ---")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--customers", type=int, default=400, help="sample-mailbox customers")
    parser.add_argument("--existing-customers", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3, help="parse passes (median)")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--profile", choices=["parse", "sqlite", "postgresql"])
    args = parser.parse_args(argv)

    corpus = build_corpus(args.messages, args.customers)
    size = sum(len(item.raw) for item in corpus.items) / len(corpus.items)
    print(f"corpus: {len(corpus.items)} messages, mean {size:.0f} bytes")
    if args.profile == "parse":
        _profile("parse", lambda: bench_parse(corpus, 1))
        return
    parse_us, parsed = bench_parse(corpus, args.runs)
    if args.profile in ("sqlite", "postgresql"):
        backend = args.profile
        _profile(
            backend, lambda: asyncio.run(run_backend(backend, parsed, args.existing_customers))
        )
        return
    backends = ["sqlite"] if args.skip_postgres else ["sqlite", "postgresql"]
    results = [asyncio.run(run_backend(b, parsed, args.existing_customers)) for b in backends]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"\n{'step':<34}{'µs/msg (CPU)':>14}{'msgs/s':>12}")
    print(f"{'parse_message':<34}{parse_us:>14.0f}{1e6 / parse_us:>12.0f}")
    for r in results:
        label = f"store+processors ({r.backend})"
        print(f"{label:<34}{r.cpu_s / r.messages * 1e6:>14.0f}{r.rate:>12.0f}")
        print(f"{'  end-of-sync finish (' + r.backend + ')':<34}{'':>14}{r.finish_s:>11.2f}s")
    for r in results:
        total = len(parsed) / (len(parsed) * parse_us / 1e6 + r.wall_s)
        print(f"{'parse+store (' + r.backend + ')':<34}{'':>14}{total:>12.0f}")
    print(f"peak RSS: {peak_mb:.0f} MB (whole bench, corpus held in memory)")


if __name__ == "__main__":
    main()
