"""lead details: preferred_date_text, details, the parser's snapshot and the fields a person edited

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-30 10:00:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("preferred_date_text", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column("details", _json(), server_default=sa.text("'{}'"), nullable=False)
        )
        # Leads parsed before this revision have no snapshot: `leads rescan` only fills their
        # empty fields, since nothing tells a parsed value from one a person typed in.
        batch.add_column(sa.Column("parsed", _json(), nullable=True))
        batch.add_column(
            sa.Column("edited_fields", _json(), server_default=sa.text("'[]'"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("edited_fields")
        batch.drop_column("parsed")
        batch.drop_column("details")
        batch.drop_column("preferred_date_text")
