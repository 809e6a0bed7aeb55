"""Indexes on the message log in its listing's order (newest first): one over a program's whole
log (its pages of all messages, or of one status or trigger), one over each broadcast's. Without
them a page of 100 read the program's whole log, or the broadcast's, and sorted it; at a million
messages (ten broadcasts to 100,000 members) 364 ms a page of the whole log, 130 ms one of a
broadcast's. With the first alone the planner walked it for a broadcast's page too, through every
newer broadcast's messages: 760 ms for the oldest. Each costs a broadcast about 2 µs of the
database's time and 120 to 150 bytes of write-ahead log a message (25 µs and 580 bytes without).

A member's messages keep ``messages_member``; ``messages_broadcast`` (by status) stays for the
workers' looks at a broadcast's queued messages and its progress counts.

Revision ID: 0030
Revises: 0029
"""

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX messages_recent ON messages (tenant_id, created_at DESC, id DESC)")
    op.execute(
        "CREATE INDEX messages_broadcast_recent ON messages (tenant_id, broadcast_id, created_at DESC, id DESC)"
        " WHERE broadcast_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS messages_broadcast_recent")
    op.execute("DROP INDEX IF EXISTS messages_recent")
