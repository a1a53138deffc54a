"""dashboard logouts

- dashboard_logouts: dashboard sessions that were logged out, refused until they would have
  expired anyway (`dashboard.web.logouts`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 12:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_logouts",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_dashboard_logouts")),
    )
    op.create_index("ix_dashboard_logouts_expires_at", "dashboard_logouts", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_dashboard_logouts_expires_at", table_name="dashboard_logouts")
    op.drop_table("dashboard_logouts")
