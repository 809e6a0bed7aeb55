"""What a page shows once (a new API key's secret) is kept with the session, in the database,
for a minute: it travelled in a signed cookie before, readable by anyone who saw the cookie and
valid again whenever the cookie was presented with the user's session.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE admin_sessions ADD COLUMN once jsonb, ADD COLUMN once_until timestamptz")
    op.execute(
        "COMMENT ON COLUMN admin_sessions.once IS"
        " 'shown by the next page of this session only, until once_until (a new API key''s secret)'"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE admin_sessions DROP COLUMN IF EXISTS once, DROP COLUMN IF EXISTS once_until")
