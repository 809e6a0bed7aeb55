"""A receipt remembers the earned points its returns could not take back (already spent
elsewhere): as the member's debt (``shortfall_debt``) or absorbed by the program
(``shortfall_absorbed``). When the spending receipt is returned later, its points go back into
this receipt's lots, and that shortfall is settled from them first; before, cancelling both
receipts in one order left the member with points (clamp) or with points and the debt
(debt) that the other order did not. A shortfall caused by another receipt's return, which took
this receipt's points, is passed on to that receipt (``shortfall_passed`` counts what was).

Revision ID: 0019
Revises: 0018
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE receipts"
        " ADD COLUMN shortfall_debt bigint NOT NULL DEFAULT 0 CHECK (shortfall_debt >= 0),"
        " ADD COLUMN shortfall_absorbed bigint NOT NULL DEFAULT 0 CHECK (shortfall_absorbed >= 0),"
        " ADD COLUMN shortfall_passed bigint NOT NULL DEFAULT 0 CHECK (shortfall_passed >= 0)"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE receipts DROP COLUMN IF EXISTS shortfall_debt, DROP COLUMN IF EXISTS shortfall_absorbed,"
        " DROP COLUMN IF EXISTS shortfall_passed"
    )
