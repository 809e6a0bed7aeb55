"""When a webhook delivery became due: its 24 hours of retries count from then.

A delivery that waited behind an earlier pending one of its member (migration 0026) became due
only when that one ended, which after a receiver was down could be 24 hours after its event: its
retries, counted from the event, were then already over, and it failed after one attempt.
Contract 10 retries each delivery for at least 24 hours. NULL (deliveries written before this
migration, and those still waiting) counts from ``created_at``, as before.

Revision ID: 0027
Revises: 0026
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE webhook_deliveries ADD COLUMN due_since timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE webhook_deliveries DROP COLUMN due_since")
