"""The message log no longer checks each message's member with a foreign key.

The check locked the member's row (``FOR KEY SHARE``) for every message written: a broadcast's
page of 90 messages wrote 90 lock records to the write-ahead log and dirtied the pages of 90
members' rows, so that a broadcast to a program's every member rewrote its whole members table
at the next checkpoint (and, after each checkpoint, logged each page of it whole once more). It
took about 30% of a page's ``INSERT`` and 23% of its write-ahead log (a probe of 100,000 messages
written in pages of 89, 2026-12-07: 40 → 28 µs and 690 → 529 bytes a message).

Nothing is lost by it: members are never deleted (no statement of Patron deletes one), and every
message is written for a member read in the same transaction (a broadcast's page, an event's
member, a scheduled look's members).

Revision ID: 0029
Revises: 0028
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_tenant_id_member_id_fkey")


def downgrade() -> None:
    op.execute(
        "ALTER TABLE messages ADD CONSTRAINT messages_tenant_id_member_id_fkey"
        " FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)"
    )
