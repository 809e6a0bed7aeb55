"""A broadcast may be scheduled: workers start preparing and sending it at ``send_at``.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE broadcasts ADD COLUMN send_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE broadcasts DROP COLUMN IF EXISTS send_at")
