"""A broadcast's audience: how many members its filter selected when its first page was expanded.

Pages are expanded just ahead of sending, so the count of queued messages grows during the send;
the audience is what progress is measured against.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE broadcasts ADD COLUMN audience integer")


def downgrade() -> None:
    op.execute("ALTER TABLE broadcasts DROP COLUMN IF EXISTS audience")
