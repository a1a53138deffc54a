"""lead response alerts and response-time indexes

- leads.response_alert_claimed_at / response_alert_sent_at: the slow-answer alert of a lead,
  claimed by one worker and marked sent (`leads.response_alerts`);
- ix_leads_first_response_at: the leads a deleted or moved reply answered;
- PostgreSQL: GIN indexes on email_messages.to_addresses and cc_addresses, for the replies
  addressed to a lead's email (`leads.responses`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


ADDRESS_COLUMNS = ("to_addresses", "cc_addresses")


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("response_alert_claimed_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("response_alert_sent_at", sa.DateTime(timezone=True)))
    op.create_index("ix_leads_first_response_at", "leads", ["first_response_at"])
    if _postgres():
        for column in ADDRESS_COLUMNS:
            op.create_index(
                f"ix_email_messages_{column}",
                "email_messages",
                [column],
                postgresql_using="gin",
            )


def downgrade() -> None:
    if _postgres():
        for column in ADDRESS_COLUMNS:
            op.drop_index(f"ix_email_messages_{column}", table_name="email_messages")
    op.drop_index("ix_leads_first_response_at", table_name="leads")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("response_alert_sent_at")
        batch.drop_column("response_alert_claimed_at")
