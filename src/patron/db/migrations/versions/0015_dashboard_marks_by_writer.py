"""Bulk writers mark the dashboard's changed days themselves, once per batch.

The triggers of ``0008_dashboard`` mark a day for each backdated row, one insert a row: an import
of a million receipt lines fired them 660,000 times, nearly all finding their mark already. A
writer that sets ``patron.dashboard_marks`` to ``by_writer`` skips them and writes the marks of
its rows in one statement instead: the importer on its loaders' own connections, each batch
marking its days (``importer.store.loader``, ``mark_days``), and the demo's replay on its own
connections (``demo.run.mark_the_year``). A till's receipt is not backdated, so its rows never
reach the new condition: the first one, evaluated first, is already false.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BY_WRITER = "current_setting('patron.dashboard_marks', true) IS DISTINCT FROM 'by_writer'"

TRIGGERS = (
    # (name, table, the row's condition, function)
    ("receipts_dashboard", "receipts", "NEW.at < now() - interval '1 day'", "dashboard_mark_at"),
    ("entries_dashboard", "entries", "NEW.at < now() - interval '1 day'", "dashboard_mark_at"),
    ("lots_dashboard", "lots", "NEW.expires_at < now() - interval '1 day'", "dashboard_mark_expiry"),
)


def _create(name: str, table: str, condition: str, function: str) -> str:
    return (
        f"DROP TRIGGER {name} ON {table};"
        f" CREATE TRIGGER {name} AFTER INSERT OR UPDATE ON {table} FOR EACH ROW"
        f" WHEN ({condition}) EXECUTE FUNCTION {function}()"
    )


def upgrade() -> None:
    for name, table, condition, function in TRIGGERS:
        op.execute(_create(name, table, f"{condition} AND {BY_WRITER}", function))


def downgrade() -> None:
    for name, table, condition, function in TRIGGERS:
        op.execute(_create(name, table, condition, function))
