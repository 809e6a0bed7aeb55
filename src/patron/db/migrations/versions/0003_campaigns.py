"""Campaigns and their usage (limits, budgets).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = r"""
ALTER TABLE tenants ADD COLUMN campaigns_version bigint NOT NULL DEFAULT 1;

CREATE TABLE campaigns (
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    definition  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    PRIMARY KEY (tenant_id, id)
);

-- How much of each limited campaign is used: checked and counted when a receipt is confirmed,
-- given back by returns and cancellations.
CREATE TABLE campaign_usage (
    tenant_id    bigint NOT NULL,
    campaign_id  uuid NOT NULL,
    uses         bigint NOT NULL DEFAULT 0 CHECK (uses >= 0),
    points       bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
    money        numeric(16, 4) NOT NULL DEFAULT 0 CHECK (money >= 0),
    PRIMARY KEY (tenant_id, campaign_id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id)
);

CREATE TABLE campaign_member_usage (
    tenant_id    bigint NOT NULL,
    campaign_id  uuid NOT NULL,
    member_id    uuid NOT NULL,
    uses         bigint NOT NULL DEFAULT 0 CHECK (uses >= 0),
    PRIMARY KEY (tenant_id, campaign_id, member_id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id)
);

-- What each campaign gave on each receipt, and how much of it returns gave back.
CREATE TABLE receipt_campaigns (
    tenant_id         bigint NOT NULL,
    receipt_id        uuid NOT NULL,
    campaign_id       uuid NOT NULL,
    member_id         uuid,
    discount          numeric(16, 4) NOT NULL,
    points            bigint NOT NULL,
    released_discount numeric(16, 4) NOT NULL DEFAULT 0,
    released_points   bigint NOT NULL DEFAULT 0,
    use_released      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, receipt_id, campaign_id),
    FOREIGN KEY (tenant_id, receipt_id) REFERENCES receipts (tenant_id, id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id),
    CHECK (released_discount <= discount AND released_points <= points)
);
"""

DROP = """
DROP TABLE IF EXISTS receipt_campaigns, campaign_member_usage, campaign_usage, campaigns CASCADE;
ALTER TABLE tenants DROP COLUMN IF EXISTS campaigns_version;
"""


def upgrade() -> None:
    if SCHEMA:
        op.execute(SCHEMA)


def downgrade() -> None:
    if DROP:
        op.execute(DROP)
