"""A webhook delivery that waits behind an earlier pending one of its member is not due.

Its ``next_attempt_at`` is NULL, outside ``deliveries_due``, until the delivery ahead of it ends
(delivered, or given up): then it is due at once. They had been due from the moment they were
written, so while a receiver was down every member's later deliveries were the oldest in the due
index, and each claim read them all, to reject each one, before it came to one it could send
(30,000 waiting: half a second and 150,000 buffers a claim). ``deliveries_due`` now also holds
``id``, the claim's second sort key, so no plan sorts the due deliveries.

Workers of the previous version, still running during an upgrade, end a delivery without making
the next one of its member due; the new workers' scheduled look makes such a delivery due
(``webhook_store.release_stranded``).

Revision ID: 0026
Revises: 0025
"""

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE webhook_deliveries ALTER COLUMN next_attempt_at DROP NOT NULL")
    op.execute(
        "UPDATE webhook_deliveries d SET next_attempt_at = NULL"
        " WHERE d.status = 'pending' AND d.member_id IS NOT NULL AND EXISTS ("
        "   SELECT 1 FROM webhook_deliveries e"
        "    WHERE e.tenant_id = d.tenant_id AND e.webhook_id = d.webhook_id AND e.member_id = d.member_id"
        "      AND e.status = 'pending' AND e.event_id < d.event_id)"
    )
    op.execute("DROP INDEX deliveries_due")
    op.execute(
        "CREATE INDEX deliveries_due ON webhook_deliveries (next_attempt_at, id)"
        " WHERE status = 'pending' AND next_attempt_at IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("UPDATE webhook_deliveries SET next_attempt_at = created_at WHERE next_attempt_at IS NULL")
    op.execute("ALTER TABLE webhook_deliveries ALTER COLUMN next_attempt_at SET NOT NULL")
    op.execute("DROP INDEX deliveries_due")
    op.execute("CREATE INDEX deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'")
