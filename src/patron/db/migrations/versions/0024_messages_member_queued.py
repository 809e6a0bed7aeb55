"""A member's queued messages of a channel, in the order they were queued: a message is claimed
only when no older one of its member and channel is still queued (``backoffice.store``), and
this index answers that look for each candidate from the few queued rows of the member, where
``messages_member`` walked every message the member was ever sent.

Revision ID: 0024
Revises: 0023
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX messages_member_queued ON messages (tenant_id, member_id, channel, created_at, id)"
        " WHERE status = 'queued'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS messages_member_queued")
