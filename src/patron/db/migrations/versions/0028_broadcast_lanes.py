"""A broadcast's messages are written once, when their outcome is known: its lanes.

A broadcast used to be expanded into queued messages a page at a time, each then claimed, sent
and written again with its outcome: every message written twice (and its five index entries
twice) and locked in between. The workers now send straight from the audience, a page at a
time, and write each message once, with its outcome. The audience is cut into 16 lanes by the
first hex digit of the member's id (ids are random), each with its own cursor, so that several
senders work on one broadcast at once, each holding its lane's row until its page's outcomes are
committed: a sender killed mid-page leaves its lane where it was, and the page is sent again
under the same message ids (made from the broadcast's and the member's).

``broadcasts.cursor`` is kept for a broadcast expanded before this migration: its lanes start
from it, so no member gets two messages. ``broadcasts.total`` is no longer written: a broadcast's
total is counted from its messages (which it always equalled).

Revision ID: 0028
Revises: 0027
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE broadcast_lanes (
            tenant_id     bigint NOT NULL,
            broadcast_id  uuid NOT NULL,
            lane          smallint NOT NULL CHECK (lane BETWEEN 0 AND 15),
            cursor        uuid,                 -- the last member of the lane looked at
            done          boolean NOT NULL DEFAULT false,
            PRIMARY KEY (tenant_id, broadcast_id, lane),
            FOREIGN KEY (tenant_id, broadcast_id) REFERENCES broadcasts (tenant_id, id)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS broadcast_lanes")
