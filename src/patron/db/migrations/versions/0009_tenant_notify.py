"""Tell every API process when a tenant's keys, settings or campaigns change.

Each process keeps the principals behind API keys in memory (patron.tenants.cache) and forgets a
tenant's entries when it hears of a change on the channel ``patron_tenants`` (the payload is the
tenant id). Triggers rather than application code, so that a change made by any process, or by
hand in SQL, is heard.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SCHEMA = """
CREATE FUNCTION patron_notify_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV[0] names the column that holds the tenant id (tenants.id, api_keys.tenant_id).
    PERFORM pg_notify('patron_tenants', to_jsonb(coalesce(NEW, OLD)) ->> TG_ARGV[0]);
    RETURN NULL;
END $$;

CREATE TRIGGER tenants_notify AFTER UPDATE OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION patron_notify_tenant('id');
CREATE TRIGGER api_keys_notify AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION patron_notify_tenant('tenant_id');
"""

DROP = """
DROP TRIGGER IF EXISTS api_keys_notify ON api_keys;
DROP TRIGGER IF EXISTS tenants_notify ON tenants;
DROP FUNCTION IF EXISTS patron_notify_tenant;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute(DROP)
