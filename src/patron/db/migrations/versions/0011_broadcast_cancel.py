"""A broadcast can be cancelled: its expansion stops and its queued messages are not sent.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE broadcasts DROP CONSTRAINT broadcasts_status_check;
        ALTER TABLE broadcasts ADD CONSTRAINT broadcasts_status_check
            CHECK (status IN ('expanding', 'expanded', 'cancelled'));
        ALTER TABLE broadcasts ADD COLUMN cancelled_at timestamptz;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        UPDATE broadcasts SET status = 'expanded' WHERE status = 'cancelled';
        ALTER TABLE broadcasts DROP COLUMN IF EXISTS cancelled_at;
        ALTER TABLE broadcasts DROP CONSTRAINT broadcasts_status_check;
        ALTER TABLE broadcasts ADD CONSTRAINT broadcasts_status_check
            CHECK (status IN ('expanding', 'expanded'));
        """
    )
