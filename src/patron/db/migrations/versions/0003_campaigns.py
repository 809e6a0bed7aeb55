"""Campaigns and their usage (limits, budgets).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = ""

DROP = ""


def upgrade() -> None:
    if SCHEMA:
        op.execute(SCHEMA)


def downgrade() -> None:
    if DROP:
        op.execute(DROP)
