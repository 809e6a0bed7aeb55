"""An index for returns: a return reads the allocations of its receipt.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX allocations_receipt ON allocations (tenant_id, receipt_id) WHERE receipt_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS allocations_receipt")
