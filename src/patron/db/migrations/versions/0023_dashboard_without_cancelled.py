"""The dashboard's rollup is summed again: its counts now leave cancelled receipts out.

Receipts, active members and each campaign's receipts and members counted cancelled sales, while
the money beside them did not (a cancelled receipt is no purchase). The days the rollup had closed
hold the old counts; emptied, they are summed again, with the new queries, on the next dashboard
load (as after a change of the program's time zone). The marks stay: the next load reads them.

Revision ID: 0023
Revises: 0022
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

TABLES = ("dashboard_days", "dashboard_campaign_days", "dashboard_campaign_members", "dashboard_state")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"DELETE FROM {table}")


def downgrade() -> None:
    for table in TABLES:  # the older queries sum them again too
        op.execute(f"DELETE FROM {table}")
