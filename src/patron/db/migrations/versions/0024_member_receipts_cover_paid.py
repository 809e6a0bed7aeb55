"""A member's receipts index carries what they paid, so that the tier window's sum is read from it.

Every quote and every receipt with a member sums what the member paid in the tier window. The
receipts' other index by date, ``receipts_tenant_at``, carries the member and the amount, and
PostgreSQL read the sum from it, every receipt of the program in the last 365 days filtered by
member, whenever its statistics put few receipts in the window (imported history older than a
year, a new program, any stretch between two ANALYZEs): a quote went from 1 to 11 ms as a probe's
program took 10,500 receipts. With the amount in the member's own index, that index answers the
sum alone, and is the cheaper one whatever the estimate of the window (the probe's statement: 7
buffers instead of 10,267). The index keeps its name and columns.

Revision ID: 0024
Revises: 0023
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def _replace(include: str) -> None:
    op.execute(
        "CREATE INDEX receipts_member_at_new ON receipts (tenant_id, member_id, at)"
        f" {include} WHERE member_id IS NOT NULL"
    )
    op.execute("DROP INDEX receipts_member_at")
    op.execute("ALTER INDEX receipts_member_at_new RENAME TO receipts_member_at")


def upgrade() -> None:
    _replace("INCLUDE (paid_net)")


def downgrade() -> None:
    _replace("")
