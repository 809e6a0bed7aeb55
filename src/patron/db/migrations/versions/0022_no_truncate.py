"""The ledger's append-only tables refuse TRUNCATE too: their row triggers stop UPDATE and DELETE,
but a TRUNCATE fires no row trigger, and emptied the ledger without a word (a probe found it).

Revision ID: 0022
Revises: 0021
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

TABLES = ("entries", "allocations", "lots")


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION patron_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'patron: % is never emptied', TG_TABLE_NAME
                USING ERRCODE = 'integrity_constraint_violation';
        END $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION patron_no_truncate()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
    op.execute("DROP FUNCTION patron_no_truncate()")
