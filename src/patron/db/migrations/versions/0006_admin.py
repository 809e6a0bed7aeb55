"""Admin web app: users and sessions.

- ``admin_users``: people who sign in to /admin, each in one tenant, with an argon2 password hash
  and a role (``admin`` changes everything; ``support`` reads everything and looks after members).
  An email signs in to one program, so it is unique across tenants.
- ``admin_sessions``: one row per signed-in browser. The cookie holds a random token (signed);
  only its SHA-256 is stored, with the session's CSRF token and its expiry. Signing out deletes
  the row, so a stolen cookie stops working at once.
- ``admin_secret``: the key that signs cookies, made once per installation so that every API
  process signs and checks alike.
- ``receipts_tenant_at``: the dashboard and the campaign preview read a tenant's receipts by time
  (a window of days, the latest receipt). A receipt row is wide (it keeps its JSON result), so the
  index also carries the few columns those reads add up: they scan the narrow index, not the table.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE admin_users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    email           text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN ('admin', 'support')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz,
    disabled_at     timestamptz
);
CREATE UNIQUE INDEX admin_users_email ON admin_users (email);
CREATE INDEX admin_users_tenant ON admin_users (tenant_id);

CREATE TABLE admin_sessions (
    token_hash      bytea PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    seen_at         timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX admin_sessions_user ON admin_sessions (user_id);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);

CREATE TABLE admin_secret (
    id              integer PRIMARY KEY CHECK (id = 1),
    key             bytea NOT NULL CHECK (length(key) >= 32),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX receipts_tenant_at ON receipts (tenant_id, at)
    INCLUDE (id, member_id, status, amount, discount, paid_net);
"""

DROP = """
DROP INDEX IF EXISTS receipts_tenant_at;
DROP TABLE IF EXISTS admin_sessions, admin_users, admin_secret CASCADE;
"""


def upgrade() -> None:
    if SCHEMA:
        op.execute(SCHEMA)


def downgrade() -> None:
    if DROP:
        op.execute(DROP)
