"""Back office: outbox, messages, channels, templates, broadcasts, webhooks.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
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
