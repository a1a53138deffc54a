"""monitoring: UptimeRobot monitors, alert events and incidents

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-30 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_INCIDENT = sa.text("ended_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "uptime_monitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=32), nullable=False),
        sa.Column("friendly_name", sa.String(length=200), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "up",
                "down",
                "unknown",
                name="state",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uptime_monitors")),
        sa.UniqueConstraint("external_id", name=op.f("uq_uptime_monitors_external_id")),
    )
    op.create_table(
        "uptime_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("alert_type", sa.Integer(), nullable=False),
        sa.Column("alert_type_name", sa.String(length=50), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["uptime_monitors.id"],
            name=op.f("fk_uptime_events_monitor_id_uptime_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uptime_events")),
        sa.UniqueConstraint(
            "monitor_id",
            "alert_type",
            "occurred_at",
            name=op.f("uq_uptime_events_monitor_id_alert_type_occurred_at"),
        ),
    )
    op.create_index("ix_uptime_events_occurred_at", "uptime_events", ["occurred_at"])
    op.create_table(
        "uptime_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("cause", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["uptime_monitors.id"],
            name=op.f("fk_uptime_incidents_monitor_id_uptime_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uptime_incidents")),
    )
    op.create_index(
        "ix_uptime_incidents_monitor_id_started_at",
        "uptime_incidents",
        ["monitor_id", "started_at"],
    )
    # At most one open incident per monitor, also when two "down" alerts race.
    op.create_index(
        "ix_uptime_incidents_monitor_id_open",
        "uptime_incidents",
        ["monitor_id"],
        unique=True,
        sqlite_where=OPEN_INCIDENT,
        postgresql_where=OPEN_INCIDENT,
    )


def downgrade() -> None:
    op.drop_index("ix_uptime_incidents_monitor_id_open", table_name="uptime_incidents")
    op.drop_index("ix_uptime_incidents_monitor_id_started_at", table_name="uptime_incidents")
    op.drop_table("uptime_incidents")
    op.drop_index("ix_uptime_events_occurred_at", table_name="uptime_events")
    op.drop_table("uptime_events")
    op.drop_table("uptime_monitors")
