"""lead preferred dates that PostgreSQL holds as infinity

Before `calendar_bounds`, a preferred date of 9999-12-31 or 0001-01-01 (typed into the API, or
read from a lead mail) was stored by asyncpg as `infinity` / `-infinity`, which lists returned as
"infinity" and the dashboard's leads page could not show. Such a date is moved to
`preferred_date_text` (as it was written, unless the mail's own text is there already) and the
date is cleared. SQLite stored the real dates; nothing changes there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 15:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "UPDATE leads SET preferred_date_text = coalesce(preferred_date_text, "
        "CASE WHEN preferred_date = 'infinity' THEN '9999-12-31' ELSE '0001-01-01' END), "
        "preferred_date = NULL "
        "WHERE preferred_date IN ('infinity', '-infinity')"
    )


def downgrade() -> None:
    # The dates were unreadable; their text stays where the upgrade put it.
    pass
