"""manual thread decisions kept while a thread is out of the mailbox

- manual_thread_decisions: a thread's manual link or unlink, kept when the thread's last
  message leaves the mailbox (deleted, trash, spam) and given back to the thread when its mail
  returns (`sync.thread_aggregates`).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "manual_thread_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("gmail_thread_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_manual_thread_decisions_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_manual_thread_decisions_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_thread_decisions")),
        sa.UniqueConstraint(
            "mailbox_id",
            "gmail_thread_id",
            name=op.f("uq_manual_thread_decisions_mailbox_id_gmail_thread_id"),
        ),
    )
    op.create_index(
        "ix_manual_thread_decisions_customer_id", "manual_thread_decisions", ["customer_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_manual_thread_decisions_customer_id", table_name="manual_thread_decisions")
    op.drop_table("manual_thread_decisions")
