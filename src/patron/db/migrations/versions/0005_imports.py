"""Bulk imports: progress and rejects.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = r"""
-- One row per (tenant, kind, file): how far its import got. Each batch of rows is committed in
-- the same transaction as the update of this row, so a rerun after a kill starts exactly where
-- the last committed batch ended and never loads a row twice.
CREATE TABLE import_runs (
    tenant_id    bigint NOT NULL REFERENCES tenants (id),
    kind         text NOT NULL CHECK (kind IN ('stores', 'products', 'members', 'lots', 'receipts')),
    fingerprint  text NOT NULL,
    file_name    text NOT NULL,
    file_size    bigint NOT NULL,
    format       text NOT NULL CHECK (format IN ('csv', 'parquet')),
    columns      text[] NOT NULL,
    position     bigint NOT NULL,            -- where the next batch starts: byte offset (CSV) or row index (Parquet)
    line         bigint NOT NULL,            -- the source line number at that position
    rows_read    bigint NOT NULL DEFAULT 0,
    loaded       bigint NOT NULL DEFAULT 0,  -- rows loaded
    records      bigint NOT NULL DEFAULT 0,  -- what those rows made (receipts, for receipt lines)
    rejected     bigint NOT NULL DEFAULT 0,
    batches      integer NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    PRIMARY KEY (tenant_id, kind, fingerprint)
);

-- Rows that could not load, with the reason, written with the batch they came in.
CREATE TABLE import_rejects (
    tenant_id    bigint NOT NULL,
    kind         text NOT NULL,
    fingerprint  text NOT NULL,
    line         bigint NOT NULL,
    reason       text NOT NULL,
    cells        text[] NOT NULL,
    PRIMARY KEY (tenant_id, kind, fingerprint, line),
    FOREIGN KEY (tenant_id, kind, fingerprint) REFERENCES import_runs (tenant_id, kind, fingerprint)
        ON DELETE CASCADE
);
"""

DROP = """
DROP TABLE IF EXISTS import_rejects, import_runs;
"""


def upgrade() -> None:
    if SCHEMA:
        op.execute(SCHEMA)


def downgrade() -> None:
    if DROP:
        op.execute(DROP)
