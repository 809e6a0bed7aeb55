"""A return's moment by the engine's clock (``receipt_returns.at``), as receipts and ledger entries
have theirs: a receipt sent late by an offline till, or a quote for a past moment, counts in its tier
window only the returns made by then. ``created_at`` is the database's clock; rows from before this
revision have no ``at`` and count at their ``created_at``.

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE receipt_returns ADD COLUMN at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE receipt_returns DROP COLUMN at")
