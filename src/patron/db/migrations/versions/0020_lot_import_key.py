"""An imported lot's key (``source->>'import_key'``) is unique in its tenant, so that a lots file
imported again, changed (saved with other line ends, a row added, rejects fixed in place), loads no
lot twice: stores, products, members and receipts had keys, lots had none, and only a byte-identical
file was recognised. The key is the file's ``key`` column (the old system's id of the lot) or, without
one, the lot's member, points, dates, condition and kind.

Revision ID: 0020
Revises: 0019
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE UNIQUE INDEX lots_import_key ON lots (tenant_id, (source ->> 'import_key'))"
        " WHERE source ? 'import_key'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX lots_import_key")
