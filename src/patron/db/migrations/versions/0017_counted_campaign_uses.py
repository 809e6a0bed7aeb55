"""A receipt remembers which of its campaigns it counted a use of, so that a return gives back
only what was counted: a campaign given limits after the receipt, or one that gave the receipt
nothing, was never counted, and giving it back let the campaign exceed its limits.

Receipts recorded before this revision are taken as counted (what the code did until now); the
counters are kept from going below zero for them.

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE receipt_campaigns ADD COLUMN counted boolean NOT NULL DEFAULT true")
    op.execute(
        "COMMENT ON COLUMN receipt_campaigns.counted IS"
        " 'the receipt counted a use (and its budgets) of this limited campaign; a return gives back only that'"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE receipt_campaigns DROP COLUMN IF EXISTS counted")
