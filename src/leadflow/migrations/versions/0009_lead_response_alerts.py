"""lead response alerts: when the slow-answer alert of a lead was claimed and sent

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


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("response_alert_claimed_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("response_alert_sent_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("response_alert_sent_at")
        batch.drop_column("response_alert_claimed_at")
