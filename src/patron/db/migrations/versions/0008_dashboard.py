"""The dashboard's daily rollup: closed days are added up once and reused.

- ``dashboard_days``: per tenant and local day (of the program's time zone in
  ``dashboard_state``) the figures the dashboard adds up: receipts, money paid, discounts,
  points issued, spent, net, expired, and the rolling count of active members.
- ``dashboard_campaign_days``: per day and campaign, its receipts, discounts and points (net of
  returns); ``dashboard_campaign_members``: per campaign and member, the days it reached them
  (a multirange), so that members reached in any window are counted once.
- ``dashboard_state``: the time zone of the rollup and the first day it does not hold yet.
- ``dashboard_marks``: the UTC days whose rows changed after they were closed (a backdated
  receipt, a return or cancellation of an old receipt, an import, an expired lot touched again).
  The triggers below write a mark only for rows more than a day older than their transaction, so
  a till's live receipt writes none; one mark per transaction and day (the key holds the
  transaction id), so concurrent writers never wait on each other. The admin app recomputes the
  marked days and deletes the marks it read.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE dashboard_state (
    tenant_id     bigint PRIMARY KEY REFERENCES tenants (id),
    tz            text NOT NULL,
    closed_until  date NOT NULL
);

CREATE TABLE dashboard_days (
    tenant_id  bigint NOT NULL,
    day        date NOT NULL,
    receipts   bigint NOT NULL DEFAULT 0,
    paid       numeric NOT NULL DEFAULT 0,
    discount   numeric NOT NULL DEFAULT 0,
    issued     bigint NOT NULL DEFAULT 0,
    spent      bigint NOT NULL DEFAULT 0,
    net        bigint NOT NULL DEFAULT 0,
    expired    bigint NOT NULL DEFAULT 0,
    active     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);

CREATE TABLE dashboard_campaign_days (
    tenant_id    bigint NOT NULL,
    day          date NOT NULL,
    campaign_id  uuid NOT NULL,
    receipts     bigint NOT NULL,
    discount     numeric NOT NULL,
    points       bigint NOT NULL,
    PRIMARY KEY (tenant_id, day, campaign_id)
);

CREATE TABLE dashboard_campaign_members (
    tenant_id    bigint NOT NULL,
    campaign_id  uuid NOT NULL,
    member_id    uuid NOT NULL,
    days         datemultirange NOT NULL,
    PRIMARY KEY (tenant_id, campaign_id, member_id)
);

CREATE TABLE dashboard_marks (
    tenant_id  bigint NOT NULL,
    day        date NOT NULL,
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (tenant_id, day, xid)
);

CREATE FUNCTION dashboard_mark_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dashboard_marks (tenant_id, day) VALUES (NEW.tenant_id, (NEW.at AT TIME ZONE 'UTC')::date)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION dashboard_mark_expiry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dashboard_marks (tenant_id, day)
        VALUES (NEW.tenant_id, ((NEW.expires_at - interval '1 microsecond') AT TIME ZONE 'UTC')::date)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION dashboard_mark_receipt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dashboard_marks (tenant_id, day)
        SELECT r.tenant_id, (r.at AT TIME ZONE 'UTC')::date FROM receipts r
         WHERE r.tenant_id = NEW.tenant_id AND r.id = NEW.receipt_id AND r.at < now() - interval '1 day'
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER receipts_dashboard AFTER INSERT OR UPDATE ON receipts FOR EACH ROW
    WHEN (NEW.at < now() - interval '1 day') EXECUTE FUNCTION dashboard_mark_at();
CREATE TRIGGER entries_dashboard AFTER INSERT OR UPDATE ON entries FOR EACH ROW
    WHEN (NEW.at < now() - interval '1 day') EXECUTE FUNCTION dashboard_mark_at();
CREATE TRIGGER lots_dashboard AFTER INSERT OR UPDATE ON lots FOR EACH ROW
    WHEN (NEW.expires_at < now() - interval '1 day') EXECUTE FUNCTION dashboard_mark_expiry();
CREATE TRIGGER receipt_campaigns_dashboard AFTER UPDATE ON receipt_campaigns FOR EACH ROW
    EXECUTE FUNCTION dashboard_mark_receipt();
"""

DROP = """
DROP TRIGGER IF EXISTS receipts_dashboard ON receipts;
DROP TRIGGER IF EXISTS entries_dashboard ON entries;
DROP TRIGGER IF EXISTS lots_dashboard ON lots;
DROP TRIGGER IF EXISTS receipt_campaigns_dashboard ON receipt_campaigns;
DROP FUNCTION IF EXISTS dashboard_mark_at(), dashboard_mark_expiry(), dashboard_mark_receipt();
DROP TABLE IF EXISTS dashboard_marks, dashboard_campaign_members, dashboard_campaign_days,
    dashboard_days, dashboard_state;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute(DROP)
