"""Retention of handled events, finished webhook deliveries and notices of expired lots: the
indexes that find them.

``deliveries_event`` also serves the foreign key from deliveries to events: without it, deleting
an event would scan every delivery.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX outbox_processed ON outbox (processed_at) WHERE processed_at IS NOT NULL")
    op.execute(
        "CREATE INDEX deliveries_finished ON webhook_deliveries (created_at) WHERE status <> 'pending'"
    )
    op.execute("CREATE INDEX deliveries_event ON webhook_deliveries (tenant_id, event_id)")
    op.execute("CREATE INDEX expiry_notices_created ON expiry_notices (created_at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS expiry_notices_created")
    op.execute("DROP INDEX IF EXISTS deliveries_event")
    op.execute("DROP INDEX IF EXISTS deliveries_finished")
    op.execute("DROP INDEX IF EXISTS outbox_processed")
