"""query indexes: every API list and the dashboard read through an index (issue #10)

- customers: the list's sort orders (name, created_at, last_contact_at; descending with empty
  values last on PostgreSQL), status for the
  dashboard, and trigram indexes for ?q= search on PostgreSQL (pg_trgm);
- leads: received_at in the list's order (newest first, undated last), carrying status and
  duplicate_of_id so the dashboard counts read the index alone; source and needs_review filters;
- email_threads: last_message_at in the list's order (also per customer), and the unmatched
  threads on their own;
- leads by status newest first; bookings of a customer by start time, and the longest booking's
  length (PostgreSQL), which bounds a time range's walk along start_time;
- email_ingest_runs: started_at, for the runs list and retention;
- the references to a lead (leads.duplicate_of_id, bookings.lead_id): deleting a lead (spam
  retention) must find them without reading the whole table.

Revision ID: 0006
Revises: 0007
Create Date: 2026-11-30 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRGM_COLUMNS = ("name", "email", "phone")
# SQLite sorts NULLs first and has no NULLS LAST in index definitions: DESC is the same order.
NEWEST_FIRST = {True: "DESC NULLS LAST", False: "DESC"}


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_index("ix_customers_name", "customers", ["name"])
    op.create_index("ix_customers_created_at", "customers", ["created_at"])
    op.create_index("ix_customers_last_contact_at", "customers", ["last_contact_at"])
    op.create_index("ix_customers_status", "customers", ["status"])
    if _postgres():
        for column in ("name", "last_contact_at"):
            op.create_index(
                f"ix_customers_{column}_desc", "customers", [sa.text(f"{column} DESC NULLS LAST")]
            )
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in TRGM_COLUMNS:
            op.create_index(
                f"ix_customers_{column}_trgm",
                "customers",
                [column],
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )
    op.drop_index("ix_leads_received_at", table_name="leads")
    op.create_index(
        "ix_leads_received_at",
        "leads",
        [sa.text(f"received_at {NEWEST_FIRST[_postgres()]}")],
        postgresql_include=["status", "duplicate_of_id"],
    )
    op.create_index("ix_leads_source", "leads", ["source"])
    op.create_index("ix_leads_needs_review", "leads", ["needs_review"])
    op.create_index("ix_leads_duplicate_of_id", "leads", ["duplicate_of_id"])
    op.create_index("ix_bookings_lead_id", "bookings", ["lead_id"])
    op.drop_index("ix_email_threads_last_message_at", table_name="email_threads")
    op.create_index(
        "ix_email_threads_last_message_at",
        "email_threads",
        [sa.text(f"last_message_at {NEWEST_FIRST[_postgres()]}")],
    )
    unmatched = sa.text("is_matched IS false" if _postgres() else "is_matched IS 0")
    op.create_index(
        "ix_email_threads_unmatched_last_message_at",
        "email_threads",
        [sa.text(f"last_message_at {NEWEST_FIRST[_postgres()]}")],
        postgresql_where=unmatched,
        sqlite_where=unmatched,
    )
    op.drop_index("ix_email_threads_customer_id_last_message_at", table_name="email_threads")
    op.create_index(
        "ix_email_threads_customer_id_last_message_at",
        "email_threads",
        ["customer_id", sa.text(f"last_message_at {NEWEST_FIRST[_postgres()]}")],
    )
    op.create_index(
        "ix_leads_status_received_at",
        "leads",
        ["status", sa.text(f"received_at {NEWEST_FIRST[_postgres()]}")],
    )
    op.create_index("ix_bookings_customer_id_start_time", "bookings", ["customer_id", "start_time"])
    if _postgres():
        op.create_index("ix_bookings_duration", "bookings", [sa.text("(end_time - start_time)")])
    op.create_index("ix_email_ingest_runs_started_at", "email_ingest_runs", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_email_ingest_runs_started_at", table_name="email_ingest_runs")
    if _postgres():
        op.drop_index("ix_bookings_duration", table_name="bookings")
    op.drop_index("ix_bookings_customer_id_start_time", table_name="bookings")
    op.drop_index("ix_leads_status_received_at", table_name="leads")
    op.drop_index("ix_email_threads_customer_id_last_message_at", table_name="email_threads")
    op.create_index(
        "ix_email_threads_customer_id_last_message_at",
        "email_threads",
        ["customer_id", "last_message_at"],
    )
    op.drop_index("ix_email_threads_unmatched_last_message_at", table_name="email_threads")
    op.drop_index("ix_email_threads_last_message_at", table_name="email_threads")
    op.create_index("ix_email_threads_last_message_at", "email_threads", ["last_message_at"])
    op.drop_index("ix_bookings_lead_id", table_name="bookings")
    op.drop_index("ix_leads_duplicate_of_id", table_name="leads")
    op.drop_index("ix_leads_needs_review", table_name="leads")
    op.drop_index("ix_leads_source", table_name="leads")
    op.drop_index("ix_leads_received_at", table_name="leads")
    op.create_index("ix_leads_received_at", "leads", ["received_at"])
    if _postgres():
        for column in TRGM_COLUMNS:
            op.drop_index(f"ix_customers_{column}_trgm", table_name="customers")
        for column in ("name", "last_contact_at"):
            op.drop_index(f"ix_customers_{column}_desc", table_name="customers")
    op.drop_index("ix_customers_status", table_name="customers")
    op.drop_index("ix_customers_last_contact_at", table_name="customers")
    op.drop_index("ix_customers_created_at", table_name="customers")
    op.drop_index("ix_customers_name", table_name="customers")
