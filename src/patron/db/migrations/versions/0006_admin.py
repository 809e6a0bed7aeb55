"""Admin web app: users and sessions.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
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
