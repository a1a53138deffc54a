"""Index suggestions: HypoPG-tested ones from pg_stat_statements, else seq-scan-heavy tables.

pg_stat_statements must be preloaded, which the shared test server is not (and must not be
restarted for): those tests start a throw-away PostgreSQL cluster of their own (initdb and
pg_ctl from the server's binaries, as the postgres user when run as root) with
shared_preload_libraries = pg_stat_statements. HypoPG comes from the postgresql-15-hypopg
package; where the binaries or HypoPG are missing the tests skip, and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow.db import create_engine
from leadflow.maintenance.optimize_suggest import candidates, suggest_indexes
from leadflow.maintenance.schema import upgrade_database
from leadflow.maintenance.stats import collect_report
from leadflow.settings import Settings
from tests.seeded_fixtures import settings_for
from tests.services import require_service

pytestmark = pytest.mark.postgres_only


def _server_binaries() -> Path:
    """The PostgreSQL server binaries (Debian layout; LEADFLOW_TEST_PG_BIN overrides)."""
    if "LEADFLOW_TEST_PG_BIN" in os.environ:
        return Path(os.environ["LEADFLOW_TEST_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts[-3])
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


BINARIES = _server_binaries()
HYPOPG = Path("/usr/share/postgresql") / BINARIES.parent.name / "extension" / "hypopg.control"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root: run the cluster as the postgres user then.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def private_cluster() -> Iterator[str]:
    """A PostgreSQL cluster with pg_stat_statements preloaded, on a free port; removed after."""
    require_service("PostgreSQL binaries (initdb, pg_ctl)", (BINARIES / "initdb").exists())
    require_service("HypoPG (apt-get install postgresql-15-hypopg)", HYPOPG.exists())
    home = Path(tempfile.mkdtemp(prefix="leadflow-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    data, port = home / "data", _free_port()
    initdb = [str(BINARIES / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
    subprocess.run(  # noqa: S603 - our own fixed command line
        _as_postgres(initdb),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={home} "
        "-c shared_preload_libraries=pg_stat_statements -c fsync=off"
    )
    pg_ctl = [str(BINARIES / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(home / "log")]
    start = _as_postgres([*pg_ctl, "-w", "start"])
    subprocess.run(start, check=True, capture_output=True)  # noqa: S603
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        stop = _as_postgres([*pg_ctl, "-m", "immediate", "stop"])
        subprocess.run(stop, capture_output=True)  # noqa: S603
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
async def cluster_engine(private_cluster: str) -> AsyncIterator[AsyncEngine]:
    settings: Settings = settings_for(private_cluster)
    await upgrade_database(settings)
    engine = create_engine(settings, application_name="leadflow-tests")
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE customers RESTART IDENTITY CASCADE"))
        await conn.execute(
            text(
                "INSERT INTO customers (name, email, city, status, tags, total_leads, "
                "total_bookings) SELECT 'Kunde ' || n, 'k' || n || '@example.org', "
                "'By ' || (n % 500), 'active', '[]', 0, 0 FROM generate_series(1, 20000) n"
            )
        )
        await conn.execute(text("ANALYZE customers"))
    yield engine
    await engine.dispose()


async def test_hypopg_suggests_the_index_a_slow_statement_needs(
    cluster_engine: AsyncEngine,
) -> None:
    async with cluster_engine.connect() as conn:
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        await conn.execute(text("SELECT pg_stat_statements_reset()"))
        for city in range(5):
            await conn.execute(
                text("SELECT id, name FROM customers WHERE city = :city"), {"city": f"By {city}"}
            )
        await conn.commit()
        found = await suggest_indexes(conn, create_extensions=True)
        report = await collect_report(conn)
        await conn.commit()
    assert found.method == "hypopg"
    city = [s for s in found.items if s.table == "customers" and s.columns == ["city"]]
    assert len(city) == 1
    assert city[0].improvement is not None
    assert city[0].improvement >= 0.5
    assert city[0].statement == "CREATE INDEX CONCURRENTLY ON customers (city)"
    assert report.slow_queries is not None
    assert report.slow_queries.available is True
    # Suggestions are never applied.
    async with cluster_engine.connect() as conn:
        indexes = await conn.execute(
            text(
                "SELECT count(*) FROM pg_indexes WHERE tablename = 'customers' "
                "AND indexdef LIKE '%(city)%'"
            )
        )
        assert indexes.scalar_one() == 0


async def test_without_pg_stat_statements_it_points_at_tables_read_by_sequential_scans(
    scratch_settings: Settings,
) -> None:
    engine = create_engine(scratch_settings)
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "INSERT INTO customers (name, email, city, status, tags, total_leads, "
                    "total_bookings) SELECT 'K' || n, 'k' || n || '@example.org', 'By', "
                    "'active', '[]', 0, 0 FROM generate_series(1, 300) n"
                )
            )
            await conn.commit()
            for _ in range(3):
                await conn.execute(text("SELECT count(*) FROM customers WHERE city = 'By'"))
            await conn.execute(text("SELECT pg_stat_force_next_flush()"))
            await conn.commit()
        async with engine.connect() as conn:
            found = await suggest_indexes(conn, create_extensions=False, seq_scan_min_rows=100)
    finally:
        await engine.dispose()
    assert found.method == "seq_scans"
    assert "shared_preload_libraries" in (found.note or "")
    assert [s.table for s in found.items] == ["customers"]
    assert found.items[0].statement is None


def test_candidates_come_from_the_filter_and_the_sort_above_a_sequential_scan() -> None:
    plan = {
        "Node Type": "Limit",
        "Plans": [
            {
                "Node Type": "Sort",
                "Sort Key": ["email_threads.last_message_at DESC NULLS LAST"],
                "Plans": [
                    {
                        "Node Type": "Seq Scan",
                        "Relation Name": "email_threads",
                        "Filter": "(NOT is_matched) AND (mailbox_id = $1)",
                    }
                ],
            }
        ],
    }
    columns = {"email_threads": ["id", "mailbox_id", "is_matched", "last_message_at"]}
    assert candidates(plan, columns) == [
        ("email_threads", ["is_matched"]),
        ("email_threads", ["mailbox_id"]),
        ("email_threads", ["is_matched", "mailbox_id"]),
        ("email_threads", ["is_matched", "mailbox_id", "last_message_at"]),
    ]
