"""lead response time: leads.first_response_at, the awaiting-reply index, and a backfill

- leads.first_response_at: when the business first answered the lead (`leads.response_time`);
- ix_leads_awaiting_reply_received_at: new leads without an answer, oldest first (partial on
  both databases), for GET /api/leads?awaiting_reply=true and the dashboard's waiting count;
- backfill: every existing lead gets its value from the mail already stored, by the same pure
  rule the services use afterwards.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01 00:30:00
"""

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from leadflow.leads.response_time import LeadFacts, MessageFacts, first_responses
from leadflow.models.base import UTCDateTime
from leadflow.models.enums import Direction

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AWAITING = sa.text("first_response_at IS NULL AND status = 'new'")
BATCH = 1000

_leads = sa.table(
    "leads",
    sa.column("id", sa.Integer()),
    sa.column("mailbox_id", sa.Integer()),
    sa.column("gmail_thread_id", sa.String()),
    sa.column("gmail_message_id", sa.String()),
    sa.column("email", sa.String()),
    sa.column("customer_id", sa.Integer()),
    sa.column("received_at", UTCDateTime()),
    sa.column("first_response_at", UTCDateTime()),
)
_messages = sa.table(
    "email_messages",
    sa.column("id", sa.Integer()),
    sa.column("thread_id", sa.Integer()),
    sa.column("mailbox_id", sa.Integer()),
    sa.column("gmail_message_id", sa.String()),
    sa.column("direction", sa.String()),
    sa.column("sent_at", UTCDateTime()),
    sa.column("to_addresses", sa.JSON()),
    sa.column("cc_addresses", sa.JSON()),
)
_threads = sa.table(
    "email_threads",
    sa.column("id", sa.Integer()),
    sa.column("gmail_thread_id", sa.String()),
    sa.column("customer_id", sa.Integer()),
)


def upgrade() -> None:
    op.add_column("leads", sa.Column("first_response_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_leads_awaiting_reply_received_at",
        "leads",
        ["received_at", "id"],
        postgresql_where=AWAITING,
        sqlite_where=AWAITING,
    )
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_leads_awaiting_reply_received_at", table_name="leads")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("first_response_at")


def _backfill(conn: sa.Connection) -> None:
    """Compute every lead's first answer from the stored outbound mail (one pass each)."""
    sources = {
        (row.mailbox_id, row.gmail_message_id)
        for row in conn.execute(
            sa.select(_leads.c.mailbox_id, _leads.c.gmail_message_id).where(
                _leads.c.gmail_message_id.is_not(None)
            )
        )
    }
    messages = list(_outbound(conn, sources))
    if not messages:
        return
    for chunk in _lead_chunks(conn):
        computed = first_responses(chunk, messages)
        rows = [{"b_id": lid, "b_at": at} for lid, at in computed.items() if at is not None]
        if rows:
            conn.execute(
                sa.update(_leads)
                .where(_leads.c.id == sa.bindparam("b_id"))
                .values(first_response_at=sa.bindparam("b_at")),
                rows,
            )


def _outbound(conn: sa.Connection, sources: set[tuple[Any, Any]]) -> Iterator[MessageFacts]:
    stmt = (
        sa.select(
            _messages.c.mailbox_id,
            _messages.c.gmail_message_id,
            _threads.c.gmail_thread_id,
            _threads.c.customer_id,
            _messages.c.sent_at,
            _messages.c.to_addresses,
            _messages.c.cc_addresses,
        )
        .join(_threads, _threads.c.id == _messages.c.thread_id)
        .where(_messages.c.direction == Direction.OUTBOUND.value, _messages.c.sent_at.is_not(None))
    )
    for row in conn.execute(stmt):
        yield MessageFacts(
            mailbox_id=row.mailbox_id,
            gmail_message_id=row.gmail_message_id,
            gmail_thread_id=row.gmail_thread_id,
            direction=Direction.OUTBOUND,
            sent_at=row.sent_at,
            recipients=tuple(
                str(a).lower() for a in [*(row.to_addresses or []), *(row.cc_addresses or [])]
            ),
            thread_customer_id=row.customer_id,
            is_lead_source=(row.mailbox_id, row.gmail_message_id) in sources,
        )


def _lead_chunks(conn: sa.Connection) -> Iterator[list[LeadFacts]]:
    last = 0
    while True:
        rows = conn.execute(
            sa.select(
                _leads.c.id,
                _leads.c.received_at,
                _leads.c.mailbox_id,
                _leads.c.gmail_thread_id,
                _leads.c.email,
                _leads.c.customer_id,
            )
            .where(_leads.c.id > last)
            .order_by(_leads.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        yield [
            LeadFacts(
                id=r.id,
                received_at=r.received_at,
                mailbox_id=r.mailbox_id,
                gmail_thread_id=r.gmail_thread_id,
                email=r.email,
                customer_id=r.customer_id,
            )
            for r in rows
        ]
