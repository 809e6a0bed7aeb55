"""An imported receipt keeps no answer: ``receipts.result`` is null for it, and its answer is
built from its figures when asked (``checkout.imported``). Patron never answered it, and at a
migration's scale the stored copy was most of what an import wrote.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE receipts ALTER COLUMN result DROP NOT NULL")
    op.execute(
        "COMMENT ON COLUMN receipts.result IS"
        " 'the answer to the confirming request, kept for repeats; null for an imported receipt'"
    )


def downgrade() -> None:
    # The answers were never stored, and rebuilding them needs each program's currency: refuse
    # rather than leave receipts whose answer the older code could not give.
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM receipts WHERE result IS NULL) THEN RAISE EXCEPTION"
        " 'imported receipts have no stored answer: downgrading below 0016 would break them'; END IF; END $$"
    )
    op.execute("ALTER TABLE receipts ALTER COLUMN result SET NOT NULL")
    op.execute("COMMENT ON COLUMN receipts.result IS NULL")
