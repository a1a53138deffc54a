"""api data safety: team names lower-cased; a customer's bookings never vanish by cascade

`bookings.customer_id` becomes ON DELETE RESTRICT (was CASCADE): deleting a customer that
still has bookings fails in the database itself; the API's `?force=true` deletes the bookings it
counted, under the customer's row lock, before the customer.

Team names compare case-insensitively from now on (`TZ-1` and `tz-1` are one team). Writers
store the lower-cased form, so the overlap exclusion constraint keeps comparing stored values;
this migration brings existing rows into that form. Two active bookings that overlap once their
team names are merged stop the upgrade with a message naming them (we do not pick one to
cancel); resolve them and run the upgrade again. Downgrading keeps the lower-cased names: the
original spelling is not recorded anywhere.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 21:30:00
"""

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_bookings = sa.table(
    "bookings",
    sa.column("id", sa.Integer()),
    sa.column("team", sa.String(100)),
    sa.column("status", sa.String(20)),
    sa.column("start_time", sa.DateTime(timezone=True)),
    sa.column("end_time", sa.DateTime(timezone=True)),
)
_ACTIVE = ("scheduled", "confirmed")


def _normalised(team: str) -> str:
    # The same rule as leadflow.models.tables.normalise_team (a migration must not import it:
    # it has to keep doing what it did when it was written).
    return team.strip().lower()


_BOOKING_CUSTOMER_FK = "fk_bookings_customer_id_customers"


def _booking_customer_fk(ondelete: str) -> None:
    # Batch mode: SQLite cannot alter a foreign key in place, so the table is rebuilt there.
    with op.batch_alter_table("bookings") as batch:
        batch.drop_constraint(_BOOKING_CUSTOMER_FK, type_="foreignkey")
        batch.create_foreign_key(
            _BOOKING_CUSTOMER_FK, "customers", ["customer_id"], ["id"], ondelete=ondelete
        )


def upgrade() -> None:
    _booking_customer_fk("RESTRICT")
    _lower_case_team_names()


def _lower_case_team_names() -> None:
    conn = op.get_bind()
    teams = list(conn.execute(sa.select(_bookings.c.team).distinct()).scalars())
    renames = {team: _normalised(team) for team in teams if team != _normalised(team)}
    if not renames:
        return
    _refuse_merged_overlaps(conn, teams)
    for old, new in sorted(renames.items()):
        conn.execute(sa.update(_bookings).where(_bookings.c.team == old).values(team=new))


def _refuse_merged_overlaps(conn: sa.Connection, teams: list[str]) -> None:
    spellings: dict[str, list[str]] = defaultdict(list)
    for team in teams:
        spellings[_normalised(team)].append(team)
    clashes: list[str] = []
    for merged in (names for names in spellings.values() if len(names) > 1):
        rows = conn.execute(
            sa.select(
                _bookings.c.id, _bookings.c.team, _bookings.c.start_time, _bookings.c.end_time
            )
            .where(_bookings.c.team.in_(merged), _bookings.c.status.in_(_ACTIVE))
            .order_by(_bookings.c.start_time, _bookings.c.id)
        ).all()
        clashes.extend(_overlaps(rows))
    if clashes:
        raise RuntimeError(
            "team names now compare case-insensitively, and these active bookings would overlap: "
            + "; ".join(clashes[:20])
            + ". Cancel or move one of each pair, then run the upgrade again."
        )


def _overlaps(rows: Sequence[Any]) -> list[str]:
    """Pairs (sorted by start) where a booking starts before the latest end seen so far."""
    found = []
    latest: Any = None
    for row in rows:
        if latest is not None and row.start_time < latest.end_time:
            found.append(
                f"booking {latest.id} ({latest.team!r}) and booking {row.id} ({row.team!r})"
            )
        if latest is None or row.end_time > latest.end_time:
            latest = row
    return found


def downgrade() -> None:
    # Team names stay lower-cased: their earlier spelling is not recorded anywhere.
    _booking_customer_fk("CASCADE")
