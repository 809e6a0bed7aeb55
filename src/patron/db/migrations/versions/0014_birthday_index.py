"""An index on members' birthdays as month * 100 + day: the birthday job runs every minute, and
without it each run read every member of each tenant with a birthday gift.

The expression must stay the same as ``backoffice.schedule_store.BIRTHDAY_MONTH_DAY``.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX members_birthday ON members"
        " (tenant_id, ((extract(month FROM birthday) * 100 + extract(day FROM birthday))::int))"
        " WHERE birthday IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS members_birthday")
