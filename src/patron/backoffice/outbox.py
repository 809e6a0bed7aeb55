"""The transactional outbox: events written in the same transaction as the change they tell of.

A change and its event commit together or not at all, so a worker never misses one and never
sees one that did not happen. Events of one member are written under that member's row lock,
so their ids follow the order in which they happened; workers take a member's events one at a
time in that order (``claim``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from patron.db.pool import Connection

EVENT_TYPES = (
    "member.created",
    "member.tier_changed",
    "receipt.confirmed",
    "receipt.returned",
    "receipt.cancelled",
    "points.adjusted",
    "points.birthday",
)
# Events for the workers only, of no member, which no webhook can subscribe to: a program's tiers
# or tier window changed, so every member's tier is to be evaluated again (``tiers.program_changed``).
INTERNAL_EVENT_TYPES = ("program.tiers_changed",)


@dataclass(frozen=True, slots=True)
class Event:
    tenant_id: int
    id: int
    uid: str
    type: str
    member_id: str | None
    occurred_at: datetime
    data: dict[str, Any]
    attempts: int


async def emit(
    conn: Connection,
    tenant_id: int,
    type_: str,
    *,
    member_id: str | None,
    data: dict[str, Any],
) -> None:
    """Writes an event in the caller's transaction. Call it after taking the member's lock (if
    there is a member), so that a member's events are numbered in order. Nothing is read back,
    so in pipeline mode it costs no round trip of its own.

    ``occurred_at`` is the database's clock at the insert, under that lock, so that a member's
    events also carry times in their order; the transaction's start (``now()``) or the request's
    could run backwards between two requests of one member that waited for each other."""
    if type_ not in EVENT_TYPES and type_ not in INTERNAL_EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    await conn.execute(
        "INSERT INTO outbox (tenant_id, type, member_id, occurred_at, data)"
        " VALUES (%s, %s, %s, clock_timestamp(), %s)",
        (tenant_id, type_, member_id, Jsonb(data)),
    )


async def member_created(conn: Connection, tenant_id: int, member_id: str) -> None:
    """``member.created`` with the member as they were created."""
    from patron.members import store as members

    member = await members.get(conn, tenant_id, member_id)
    await emit(conn, tenant_id, "member.created", member_id=member_id, data=dict(member))


# The member's earlier pending event is looked up for each candidate, by key in
# ``outbox_member_pending`` (a scalar subquery with LIMIT 1, which PostgreSQL cannot turn into a
# join). As a NOT EXISTS it was planned, whenever the statistics were taken while the queue was
# short, as an anti join comparing each candidate with a materialized copy of every pending
# event: a backlog of 20,000 cost 184 ms a claim of 20, and drained in quadratic time.
# ``p.id + 0``: the earlier event is looked up in the member's index of pending events. Compared
# bare, the id let the primary key (tenant, id) serve the look-up too, and with statistics taken
# before a backlog PostgreSQL at times chose it: every earlier event of the program, handled ones
# included, read for each candidate (seen in tests/integration/test_message_plans.py).
CLAIM = """
    SELECT o.tenant_id, o.id, o.uid::text AS uid, o.type, o.member_id::text AS member_id,
           o.occurred_at, o.data, o.attempts
      FROM outbox o
     WHERE o.processed_at IS NULL
       AND (o.available_at IS NULL OR o.available_at <= %(now)s)
       AND (%(tenants)s::bigint[] IS NULL OR o.tenant_id = ANY(%(tenants)s))
       AND (o.member_id IS NULL OR NOT coalesce((
             SELECT true FROM outbox p
              WHERE p.tenant_id = o.tenant_id AND p.member_id = o.member_id
                AND p.processed_at IS NULL AND p.id + 0 < o.id LIMIT 1), false))
     ORDER BY o.id
     LIMIT %(limit)s
     FOR UPDATE SKIP LOCKED
"""


async def claim(conn: Connection, now: datetime, limit: int, tenants: list[int] | None = None) -> list[Event]:
    """Locks up to ``limit`` events to handle in the caller's transaction, oldest first.

    An event waits while an earlier event of the same member is unhandled (or being handled by
    another worker), so a member's events are handled in order; SKIP LOCKED lets any number of
    workers share the queue."""
    cur = await conn.execute(CLAIM, {"now": now, "limit": limit, "tenants": tenants})
    return [Event(**row) for row in await cur.fetchall()]


async def done(conn: Connection, event: Event, now: datetime, error: str | None = None) -> None:
    await conn.execute(
        "UPDATE outbox SET processed_at = %s, error = %s, attempts = attempts + 1"
        " WHERE tenant_id = %s AND id = %s",
        (now, error, event.tenant_id, event.id),
    )


async def failed(conn: Connection, event: Event, retry_at: datetime, error: str) -> None:
    """A handler failed: try the event again at ``retry_at`` (its member's later events wait)."""
    await conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, available_at = %s, error = %s"
        " WHERE tenant_id = %s AND id = %s",
        (retry_at, error, event.tenant_id, event.id),
    )


async def prune(conn: Connection, before: datetime, limit: int, tenants: list[int] | None) -> int:
    """Deletes up to ``limit`` events handled before ``before`` that no webhook delivery still
    names (their finished deliveries go first, ``webhook_store.prune``); returns how many.
    Unhandled events are never touched, and rows another worker holds are skipped."""
    cur = await conn.execute(
        """
        WITH doomed AS (
            SELECT o.tenant_id, o.id FROM outbox o
             WHERE o.processed_at < %(before)s
               AND (%(tenants)s::bigint[] IS NULL OR o.tenant_id = ANY(%(tenants)s))
               AND NOT EXISTS (
                     SELECT 1 FROM webhook_deliveries d WHERE d.tenant_id = o.tenant_id AND d.event_id = o.id)
             LIMIT %(limit)s
             FOR UPDATE SKIP LOCKED)
        DELETE FROM outbox o USING doomed WHERE o.tenant_id = doomed.tenant_id AND o.id = doomed.id
        """,
        {"before": before, "limit": limit, "tenants": tenants},
    )
    return cur.rowcount
