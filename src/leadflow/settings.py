"""Application settings: one class, read from LEADFLOW_* environment variables and `.env`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


class UiLanguage(StrEnum):
    DA = "da"
    EN = "en"


DEFAULT_DATABASE_URL = "sqlite:///./data/leadflow.db"
# Key families of the cache and their default TTLs in seconds (see leadflow.cache.policy).
DEFAULT_CACHE_TTLS = {"dashboard": 30.0, "lists": 120.0, "customer360": 60.0}


class Settings(BaseSettings):
    """Every knob leadflow has. The README's configuration table is checked against this class."""

    model_config = SettingsConfigDict(
        env_prefix="LEADFLOW_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="Database URL: `sqlite:///path` or `postgresql://user@host/db`; "
        "the async driver is chosen automatically.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL for the shared cache tier (`redis://host:6379/0`). Unset = "
        "each process caches in memory only.",
    )
    api_token: SecretStr | None = Field(
        None,
        description="Bearer token required on every /api route. "
        "`serve` refuses to start without one (the demo makes one).",
    )
    auth_failure_limit: int = Field(
        10,
        ge=1,
        le=10_000,
        description="Wrong tokens (API bearer or dashboard login) one client address may send "
        "within the window below; past that it is answered 429 with `Retry-After` until they "
        "age out. Counted per `serve` worker.",
    )
    auth_failure_window_seconds: float = Field(
        300.0,
        gt=0,
        le=86_400,
        description="Seconds a wrong token counts against its address.",
    )
    max_request_bytes: int = Field(
        1_000_000,
        ge=1,
        description="Largest request body the API reads, in bytes; a larger one is answered "
        "413 without being read further (also for chunked bodies).",
    )
    own_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["rendetalje.dk"],
        description="Comma-separated domains that belong to the business (outbound mail).",
    )
    timezone: str = Field("Europe/Copenhagen", description="Business time zone for day-based KPIs.")
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_format: LogFormat = Field(LogFormat.CONSOLE, description="Log output: `json` or `console`.")
    db_connect_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for a database connection before answering 503."
    )
    db_statement_timeout: float = Field(
        30.0, gt=0, description="Seconds a single SQL statement may run (PostgreSQL)."
    )
    db_pool_size: int = Field(
        10,
        ge=1,
        description="Connections in the pool (PostgreSQL); a request waits for a free one up "
        "to the connect timeout, then answers 503.",
    )
    db_ping_idle_seconds: float = Field(
        10.0,
        ge=0,
        description="Check a pooled connection with a ping before use when it sat idle longer "
        "than this (0: before every use); a connection in steady use is not pinged, and a read "
        "whose connection turns out dead is retried once.",
    )

    # Gmail sync (issue #3)
    gmail_api_url: str = Field(
        "https://gmail.googleapis.com", description="Gmail REST API base URL (tests use a fake)."
    )
    gmail_credentials: Path | None = Field(
        None,
        description="Path to a Google credentials JSON: service account (domain-wide delegation) "
        "or authorized_user (from `leadflow gmail authorize`). Unset = Gmail sync off.",
    )
    gmail_user: str = Field(
        "info@rendetalje.dk", description="Mailbox to sync (the delegation subject)."
    )
    gmail_quota_units_per_second: float = Field(
        250.0,
        gt=0,
        description="Ceiling of the adaptive Gmail pacing, in quota units per second "
        "(Gmail's per-user limit is 250); the rate drops below it when Gmail answers 429.",
    )
    gmail_quota_min_units_per_second: float = Field(
        25.0,
        gt=0,
        description="Floor of the adaptive Gmail pacing: however often Gmail throttles, the "
        "rate is not cut below this (capped at the ceiling).",
    )
    gmail_max_attempts: int = Field(
        6, ge=1, le=20, description="Attempts per Gmail call for transient failures."
    )
    gmail_concurrency: int = Field(
        10, ge=1, le=100, description="Gmail requests in flight at once."
    )
    gmail_batch_size: int = Field(
        50,
        ge=1,
        le=100,
        description="Most messages per Gmail HTTP batch request (1 = single gets); the pacing "
        "sends fewer per request (a fifth of a second's units) to spread the quota evenly.",
    )
    max_body_bytes: int = Field(
        1_000_000, ge=1_000, description="Cap on a stored message body; longer ones are truncated."
    )
    sync_interval_seconds: float = Field(
        60.0, gt=0, description="Seconds between background incremental syncs (serve, worker)."
    )
    sync_batch_size: int = Field(
        200, ge=1, le=5_000, description="Messages stored per committed batch during a sync."
    )
    sync_fetch_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024 * 1024,
        le=1024 * 1024 * 1024,
        description="Raw bytes of mail a sync downloads ahead of storing it, at most (by Gmail's "
        "size estimate); a larger message is fetched on its own. Bounds the sync's memory.",
    )
    sync_lease_seconds: float = Field(
        120.0,
        ge=1,
        le=3_600,
        description="Lifetime of a sync's mailbox lease; renewed every third of it. Another "
        "process may take the mailbox over once it expires unrenewed.",
    )
    sync_analyze_after_batches: int = Field(
        10,
        ge=0,
        description="PostgreSQL: a sync ANALYZEs the mail tables after this many committed "
        "batches, then after twice as many, and so on (0 = never).",
    )
    # Database maintenance (`leadflow db optimize`, issue #10): retention by age, never by count.
    retention_ingest_runs_days: int = Field(
        90, ge=0, description="Delete sync runs older than this many days (0 = keep all)."
    )
    retention_ingest_runs_keep: int = Field(
        50, ge=0, description="Always keep this many latest sync runs per mailbox."
    )
    retention_spam_leads_days: int = Field(
        180,
        ge=0,
        description="Delete leads marked spam, received and last changed more than this many "
        "days ago (0 = keep all). Their emails stay.",
    )
    retention_monitoring_events_days: int = Field(
        400,
        ge=0,
        description="Delete monitoring events (UptimeRobot alerts, uptime_events) older than "
        "this many days (0 = keep all). Uptime figures use the last 30 days.",
    )
    maintenance_delete_batch: int = Field(
        5_000, ge=1, le=100_000, description="Rows deleted per transaction by retention."
    )
    maintenance_vacuum_dead_ratio: float = Field(
        0.1,
        gt=0,
        le=1,
        description="PostgreSQL: VACUUM (ANALYZE) a table once dead rows reach this share.",
    )
    # Monitoring (issue #12)
    health_check_timeout: float = Field(
        0.8,
        gt=0,
        le=5,
        description="Seconds each /health/ready check may take; checks run at once, so the "
        "answer comes within about this long even when a dependency hangs.",
    )
    health_sync_failing_seconds: float = Field(
        3600.0,
        gt=0,
        description="/health/ready fails when Gmail syncs have been failing for longer than "
        "this (it warns once the last success is older than 3 sync intervals).",
    )
    health_disk_warn_bytes: int = Field(
        1_073_741_824,
        ge=0,
        description="/health/ready warns when the SQLite file's disk has less free space.",
    )
    health_disk_fail_bytes: int = Field(
        104_857_600,
        ge=0,
        description="/health/ready fails when the SQLite file's disk has less free space.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token for GET /metrics; unset = /metrics is open (keep it private).",
    )
    metrics_dir: Path | None = Field(
        None,
        description="Directory for prometheus-client's multiprocess files, shared by all "
        "processes that report metrics (serve workers, `leadflow worker`); "
        "`serve --workers N` uses a fresh temporary one when unset.",
    )
    metrics_sample_interval_seconds: float = Field(
        5.0,
        gt=0,
        description="In multiprocess mode, how often each process copies its cache, pool and "
        "process readings into the shared metrics files: a scrape shows the other workers' "
        "figures at most this old.",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Token UptimeRobot's web-hook must send (`?token=` or `X-Webhook-Token`); "
        "unset = POST /webhooks/uptimerobot refuses every call.",
    )
    uptimerobot_api_url: str = Field(
        "https://api.uptimerobot.com/v2", description="UptimeRobot API v2 base URL."
    )
    uptimerobot_api_key: SecretStr | None = Field(
        None, description="UptimeRobot main API key (for `leadflow monitoring setup|status`)."
    )
    uptimerobot_interval: int = Field(
        300,
        ge=60,
        description="Seconds between UptimeRobot checks (300 on the free plan, 60 minimum).",
    )
    # Lead response time (issue #12).
    response_target_minutes: int = Field(
        60,
        ge=1,
        le=10_080,
        description="Minutes within which a new lead should be answered: leads waiting longer "
        "are counted in /api/dashboard/stats and the metrics.",
    )
    response_alert_webhook_url: SecretStr | None = Field(
        None,
        description="When set, `serve` and `worker` POST a JSON alert here once per new lead "
        "left unanswered past the target (retried with backoff). May hold a secret: never "
        "logged.",
    )
    # Hybrid cache (issue #11): Redis first, memory when Redis fails.
    cache_enabled: bool = Field(
        True,
        description="Serve the cached read endpoints from the cache (false: every response is "
        "computed; invalidation and /api/cache/stats keep working).",
    )
    cache_memory_max_items: int = Field(
        10_000, ge=1, le=10_000_000, description="Most entries the in-memory tier holds (LRU)."
    )
    cache_ttl_seconds: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_CACHE_TTLS),
        description="JSON object: seconds a cached value lives, per key family (`dashboard`, "
        "`lists`, `customer360`); families left out keep their default.",
    )
    cache_redis_timeout: float = Field(
        0.2,
        ge=0.01,
        le=5.0,
        description="Seconds to connect to Redis and to wait for an answer; slower operations "
        "are served from memory.",
    )
    cache_redis_max_connections: int = Field(
        32, ge=2, le=1_000, description="Redis connections per process (one pool each)."
    )
    cache_breaker_failures: int = Field(
        3,
        ge=1,
        le=100,
        description="Consecutive Redis failures that open the circuit (memory only until a "
        "probe succeeds).",
    )
    cache_probe_interval_seconds: float = Field(
        2.0, gt=0, le=60, description="Seconds between probes of Redis while the circuit is open."
    )
    cache_fallback_ttl_seconds: float = Field(
        10.0,
        gt=0,
        description="Longest a memory entry is trusted while Redis is unavailable, and after it "
        "returns for entries written during the outage.",
    )
    cache_redis_lock: bool = Field(
        True,
        description="On a miss, let one process compute the value while others wait for it "
        "(short Redis lock).",
    )
    cache_lock_ttl_seconds: float = Field(
        3.0, gt=0, le=60, description="Longest a process waits for another's value on a miss."
    )
    cache_namespace: str = Field(
        "leadflow",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Prefix of every Redis key and channel the cache uses.",
    )
    cache_warm: bool = Field(
        True,
        description="Load the dashboard stats and the first list pages at start-up and after "
        "each sync that changed data.",
    )
    # Dashboard (issue #13): server-rendered pages under /dashboard, behind a login.
    ui_language: UiLanguage | None = Field(
        None,
        description="Dashboard language: `da` or `en`. Unset = the browser's Accept-Language "
        "picks between them, Danish when it names neither.",
    )
    dashboard_session_hours: float = Field(
        168.0,
        gt=0,
        le=24 * 90,
        description="Hours a dashboard login lasts; changing LEADFLOW_API_TOKEN ends every login.",
    )
    dashboard_secure_cookie: bool | None = Field(
        None,
        description="Mark the dashboard's session cookie `Secure`. Unset = only when the request "
        "came over https (behind a proxy: run uvicorn with proxy headers trusted).",
    )
    # Lead sources (issue #4): a new platform is one entry here plus one parser module.
    lead_senders: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "rengoring_nu": ["*@leadmail.no"],
            "leadpoint": ["*@leadpoint.dk"],
            "adhelp": ["mw@adhelp.dk", "sp@adhelp.dk"],
            "website": ["noreply@rendetalje.dk", "no-reply@rendetalje.dk"],
        },
        description="JSON object: lead parser name to sender address patterns (fnmatch).",
    )

    @field_validator("own_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        # Caught here, a mistyped URL is "invalid configuration: LEADFLOW_DATABASE_URL: ..."
        # (never echoing the value, which may hold a password) instead of failing at connect.
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        usage = "use sqlite:///path or postgresql://user@host/db"
        try:
            url = make_url(value)
            backend = url.get_backend_name()
            port = url.port
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            raise ValueError(f"not a database URL: {usage}") from None
        if backend not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError(f"unsupported database {backend!r}: {usage}")
        if backend == "sqlite" and (url.host or port is not None):
            raise ValueError(
                "a SQLite URL names a file, not a host: use sqlite:///relative/path "
                "or sqlite:////absolute/path"
            )
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"port {port} is not between 1 and 65535: {usage}")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value.strip()

    @field_validator("cache_ttl_seconds")
    @classmethod
    def _check_cache_ttls(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(DEFAULT_CACHE_TTLS))
        if unknown:
            known = ", ".join(DEFAULT_CACHE_TTLS)
            raise ValueError(f"unknown cache key family {unknown[0]!r} (known: {known})")
        bad = sorted(name for name, ttl in value.items() if not ttl > 0)
        if bad:
            raise ValueError(f"cache TTL of {bad[0]!r} must be a positive number of seconds")
        return {**DEFAULT_CACHE_TTLS, **value}

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


def configuration_table() -> str:
    """The README's configuration table, generated from `Settings` (a test keeps them in sync)."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if isinstance(default, list):
            shown = ",".join(str(item) for item in default)
        elif isinstance(default, dict):
            import json

            shown = json.dumps(default, separators=(",", ":"))
        elif isinstance(default, StrEnum):
            shown = default.value
        elif default is None:
            shown = "(unset)"
        else:
            shown = str(default)
        description = (info.description or "").replace("|", "\\|")
        rows.append(f"| `LEADFLOW_{name.upper()}` | `{shown}` | {description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(configuration_table())
