"""Receipts, their lines, and returns: what every line earned and spent, and what came back.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE receipts (
    tenant_id       bigint NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    store           text NOT NULL,
    number          text NOT NULL,
    member_id       uuid,
    at              timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'confirmed'
                    CHECK (status IN ('confirmed', 'partially_returned', 'returned', 'cancelled')),
    body_hash       bytea NOT NULL,
    tier            text,
    amount          numeric(16, 4) NOT NULL,
    discount        numeric(16, 4) NOT NULL,
    points_spent    bigint NOT NULL CHECK (points_spent >= 0),
    paid            numeric(16, 4) NOT NULL,
    paid_net        numeric(16, 4) NOT NULL,
    points_earned   bigint NOT NULL CHECK (points_earned >= 0),
    result          jsonb NOT NULL,       -- the answer to the confirming request, kept for repeats
    current         jsonb,                -- the receipt as it stands after returns (null: as confirmed)
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, store, number),
    FOREIGN KEY (tenant_id, store) REFERENCES stores (tenant_id, code),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
);
CREATE INDEX receipts_member_at ON receipts (tenant_id, member_id, at) WHERE member_id IS NOT NULL;

CREATE TABLE receipt_lines (
    tenant_id       bigint NOT NULL,
    receipt_id      uuid NOT NULL,
    line            integer NOT NULL CHECK (line >= 1),
    sku             text NOT NULL,
    quantity        integer NOT NULL CHECK (quantity > 0),
    returned        integer NOT NULL DEFAULT 0,
    price           numeric(16, 4) NOT NULL,
    amount          numeric(16, 4) NOT NULL,
    discount        numeric(16, 4) NOT NULL,
    points_spent    bigint NOT NULL CHECK (points_spent >= 0),
    paid            numeric(16, 4) NOT NULL,
    points_earned   bigint NOT NULL CHECK (points_earned >= 0),
    campaigns       jsonb NOT NULL DEFAULT '[]'::jsonb,
    PRIMARY KEY (tenant_id, receipt_id, line),
    FOREIGN KEY (tenant_id, receipt_id) REFERENCES receipts (tenant_id, id),
    CONSTRAINT returned_within_sold CHECK (returned >= 0 AND returned <= quantity)
);

CREATE TABLE receipt_returns (
    tenant_id        bigint NOT NULL,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    receipt_id       uuid NOT NULL,
    number           text NOT NULL,
    body_hash        bytea NOT NULL,
    refund           numeric(16, 4) NOT NULL,
    paid             numeric(16, 4) NOT NULL,
    points_refunded  bigint NOT NULL,
    points_reversed  bigint NOT NULL,
    shortfall        bigint NOT NULL,
    withhold         numeric(16, 4) NOT NULL,
    lines            jsonb NOT NULL,
    result           jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, receipt_id, number),
    FOREIGN KEY (tenant_id, receipt_id) REFERENCES receipts (tenant_id, id)
);
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS receipt_returns, receipt_lines, receipts CASCADE")
