"""Database engines and sessions: URL normalisation, pool settings, connection-failure detection."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, String, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from leadflow.settings import Settings

log = logging.getLogger(__name__)

_ASYNC_DRIVERS = {"postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}


def async_url(raw: str) -> URL:
    """Return `raw` with the async driver for its backend (postgres:// is accepted too)."""
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw.removeprefix("postgres://")
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: use postgresql:// or sqlite:///")
    return url.set(drivername=_ASYNC_DRIVERS[backend])


def sqlite_file(raw: str) -> Path | None:
    """Return the file behind a SQLite URL (None for PostgreSQL or an in-memory SQLite)."""
    url = make_url(raw)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def conflict_insert(executor: AsyncSession | AsyncConnection | AsyncEngine, table: Any) -> Any:
    """The database's own INSERT for `table`, which has on_conflict_do_nothing/_do_update
    (PostgreSQL and SQLite alike)."""
    if isinstance(executor, AsyncSession):
        name = executor.get_bind().dialect.name
    else:
        name = executor.dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(table)


def create_engine(settings: Settings, *, application_name: str = "leadflow") -> AsyncEngine:
    """Build the engine: idle ping, bounded connect and statement timeouts, SQLite pragmas."""
    url = async_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_file(settings.database_url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, async_creator=_sqlite_connector(url, timeout=settings.db_connect_timeout)
        )
        _install_sqlite_pragmas(engine, busy_timeout_ms=int(settings.db_statement_timeout * 1000))
        install_idle_ping(engine, idle_seconds=settings.db_ping_idle_seconds)
        return engine
    statement_ms = int(settings.db_statement_timeout * 1000)
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        # A fixed pool: overflow connections are closed as soon as they are returned while
        # requests queue, so under load every few requests paid a new connection (with its
        # TLS probe): issue #10's list benchmark served 198 req/s with 10 + 10 overflow and
        # 295 req/s with 10 and none. A request waits for a free connection up to the
        # connect timeout, then answers 503.
        max_overflow=0,
        pool_timeout=settings.db_connect_timeout,
        pool_recycle=1800,
        connect_args={
            "timeout": settings.db_connect_timeout,
            "command_timeout": settings.db_statement_timeout,
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(statement_ms),
                "lock_timeout": str(statement_ms),
                # asyncpg prepares every statement; after five runs PostgreSQL may switch to a
                # generic plan chosen while the tables were small (a sequential scan for the
                # sync's `id IN (...)` lookups) and keep it as they grow. Plan each execution.
                "plan_cache_mode": "force_custom_plan",
            },
        },
    )
    install_idle_ping(engine, idle_seconds=settings.db_ping_idle_seconds)
    return engine


_IDLE_SINCE = "leadflow.idle_since"


def install_idle_ping(
    engine: AsyncEngine, *, idle_seconds: float, clock: Callable[[], float] = time.monotonic
) -> None:
    """Ping a pooled connection before use only when it sat idle for more than `idle_seconds`.

    SQLAlchemy's `pool_pre_ping` pings on every checkout, and asyncpg's ping is three round
    trips (BEGIN, an empty query, ROLLBACK): more than the list query it guards. Like
    pgbouncer's `server_check_delay`, a connection in steady use is trusted; one that sat idle
    (where a restart, a failover or a firewall could have cut it unseen) is pinged, and a dead
    one is replaced before the request uses it. A connection cut while in steady use fails the
    request that uses it: the pool then discards every connection older than the failure, a
    read (GET) is retried once on a fresh connection (`api.routing.RetryingRoute`) and a write
    answers 503 without having stored anything.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = clock()

    @event.listens_for(pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or clock() - idle_since <= idle_seconds:
            return  # new, or in steady use
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (or connects anew).
            raise DisconnectionError("pooled connection failed its ping") from exc


def escape_like(term: str) -> str:
    """`term` with LIKE's wildcards escaped (use with `escape="\\"`)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class unicode_lower(FunctionElement[str]):
    """lower() that folds every letter (Ø, Æ, Å too) on both databases.

    SQLite's own lower() folds only A-Z, so `?q=Østergaard` found nothing there while
    PostgreSQL (lower() by the database's UTF-8 ctype) found the customer. SQLite connections
    get a Python function instead (`_install_sqlite_pragmas`). Chosen over a stored folded
    column: nothing to keep current in every writer (the lead ingest fills names with SQL
    upserts), and a `%term%` search scans either way, so an index on it would not be used.
    """

    type = String()
    inherit_cache = True
    name = "unicode_lower"


SQLITE_LOWER = "leadflow_lower"


@compiles(unicode_lower)
def _lower_default(element: unicode_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "sqlite")
def _lower_sqlite(element: unicode_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_LOWER}({compiler.process(element.clauses, **kw)})"


class contains_folded(FunctionElement[bool]):
    """`column` matches the LIKE `pattern` (escape character backslash) ignoring case, Ø and Æ
    included. PostgreSQL: `column ILIKE pattern`, which a trigram index on the column serves;
    SQLite: the Python-folded `unicode_lower(column) LIKE pattern`."""

    type = Boolean()
    inherit_cache = True
    name = "contains_folded"


@compiles(contains_folded)
def _contains_folded_default(element: contains_folded, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern = (compiler.process(c, **kw) for c in element.clauses)
    return f"{column} ILIKE {pattern} ESCAPE '\\'"


@compiles(contains_folded, "sqlite")
def _contains_folded_sqlite(element: contains_folded, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern = (compiler.process(c, **kw) for c in element.clauses)
    return f"{SQLITE_LOWER}({column}) LIKE {pattern} ESCAPE '\\'"


def fold_case(text: str) -> str:
    """`text` lower-cased for `contains_folded` on both databases. Python lower-cases "İ" to
    "i" and a combining dot, which PostgreSQL's ILIKE (folding "İ" to "i") never matched: the
    dot goes, on the search term and on SQLite's folded column alike."""
    return text.lower().replace("i\u0307", "i")


def _python_lower(value: object) -> object:
    return fold_case(value) if isinstance(value, str) else value


def _sqlite_connector(url: URL, *, timeout: float) -> Callable[[], Awaitable[Any]]:
    """aiosqlite connections as SQLAlchemy's dialect opens them, but a failed open waits for
    aiosqlite's worker thread to stop while the event loop still runs: aiosqlite stops it
    without waiting, and a command that then exits closes the loop under the thread's last
    answer (a "RuntimeError: Event loop is closed" traceback on stderr after our one line)."""
    import aiosqlite

    args, kwargs = url.get_dialect()().create_connect_args(url)
    kwargs = {**kwargs, "timeout": timeout}

    async def connect() -> Any:
        connection = aiosqlite.connect(*args, **kwargs)
        connection._thread.daemon = True  # as SQLAlchemy's dialect does: never blocks an exit
        try:
            return await connection
        except BaseException:
            await asyncio.to_thread(connection._thread.join, timeout)
            raise

    return connect


def _install_sqlite_pragmas(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    """Enforce foreign keys, use WAL, and start every transaction with BEGIN IMMEDIATE.

    BEGIN IMMEDIATE takes the write lock up front, so a check-then-write inside one transaction
    (the booking overlap rule) cannot interleave with another writer; a waiting writer blocks
    for up to busy_timeout instead of failing with "database is locked" half-way through.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        dbapi_connection.create_function(SQLITE_LOWER, 1, _python_lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """Yield a session whose transaction commits on success and rolls back on error."""
    async with sessionmaker() as session, session.begin():
        yield session


async def analyze_tables(
    sessionmaker: async_sessionmaker[AsyncSession], tables: Sequence[str]
) -> None:
    """Refresh the planner statistics of `tables` (PostgreSQL; a no-op on SQLite). Best effort:
    a failure is logged, never raised, since callers only want faster plans."""
    bind = sessionmaker.kw.get("bind")
    if not tables or bind is None or bind.dialect.name != "postgresql":
        return
    try:
        async with transaction(sessionmaker) as session:
            await session.execute(text(f"ANALYZE {', '.join(tables)}"))
    except Exception:
        log.warning("ANALYZE of %s failed", ", ".join(tables), exc_info=True)


# PostgreSQL gave up one of two colliding transactions; the other went through. Nothing of the
# loser was stored, and the same request may simply be sent again.
CONCURRENCY_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE PostgreSQL reported for a database error (None for SQLite and others)."""
    orig = getattr(exc, "orig", None)
    for err in (orig, getattr(orig, "__cause__", None)):
        code = getattr(err, "sqlstate", None)
        if isinstance(code, str):
            return code
    return None


def is_connection_error(exc: BaseException) -> bool:
    """True when `exc` means the database could not be reached or the connection dropped."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return _looks_like_connection_failure(exc)
    return isinstance(exc, OSError | asyncio.TimeoutError | TimeoutError | ConnectionError)


def _looks_like_connection_failure(exc: DBAPIError) -> bool:
    orig = exc.orig
    if isinstance(orig, OSError | TimeoutError | ConnectionError):
        return True
    text = str(exc).lower()
    markers = (
        "connection",
        "connect call failed",
        "timeout",
        "timed out",
        "could not connect",
        "terminat",
        "closed",
        "database is locked",
        "unable to open database",
    )
    return any(marker in text for marker in markers)
