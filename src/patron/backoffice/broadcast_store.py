"""SQL of broadcasts: their audience (the members a filter selects), the broadcasts themselves,
their expansion page by page just ahead of sending, and their cancellation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from patron.backoffice.store import LATEST_STORE, LATEST_STORE_EACH, MEMBER_COLUMNS
from patron.db.pool import Connection

# --- the audience ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audience:
    """A broadcast's filter, ready for SQL (lists lower-cased where matching ignores case)."""

    channel: str
    default_tier: str | None
    tiers: list[str] | None = None
    cities: list[str] | None = None
    before: datetime | None = None
    after: datetime | None = None
    consents: list[str] | None = None


# members ``m`` (with ``LATEST_STORE`` or ``LATEST_STORE_EACH``) that a broadcast's filter selects
_AUDIENCE_FILTER = """
    coalesce((m.consents ->> %(channel)s)::boolean, false)
    AND (%(channel)s <> 'email' OR m.email IS NOT NULL)
    AND (%(consents)s::text[] IS NULL OR NOT EXISTS (
          SELECT 1 FROM unnest(%(consents)s::text[]) c
           WHERE NOT coalesce((m.consents ->> c)::boolean, false)))
    AND (%(cities)s::text[] IS NULL OR lower(normalize(m.city, NFC)) = ANY(%(cities)s))
    AND (%(tiers)s::text[] IS NULL OR coalesce(mt.tier, %(default_tier)s) = ANY(%(tiers)s))
    AND (%(before)s::timestamptz IS NULL OR lr.at < %(before)s)
    AND (%(after)s::timestamptz IS NULL OR lr.at >= %(after)s)
"""


def _audience_parameters(audience: Audience) -> dict[str, Any]:
    return {
        "channel": audience.channel,
        "consents": audience.consents,
        "cities": audience.cities,
        "tiers": audience.tiers,
        "default_tier": audience.default_tier,
        "before": audience.before,
        "after": audience.after,
    }


async def audience_size(conn: Connection, tenant_id: int, audience: Audience) -> int:
    """How many members the filter selects now."""
    cur = await conn.execute(
        f"SELECT count(*) AS n FROM members m {LATEST_STORE} WHERE m.tenant_id = %(t)s AND {_AUDIENCE_FILTER}",
        {"t": tenant_id, **_audience_parameters(audience)},
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


# The page is read from the members' key, and each of its members' latest receipt and tier looked up
# by key. Joined back to ``members`` by id, PostgreSQL hashed all the tenant's members for every
# page: 10 ms a page of 250 at 20,000 members, a broadcast's cost growing with the square of its
# audience (bench/backoffice.py, 2026-12-06).
AUDIENCE_PAGE = f"""
    SELECT {MEMBER_COLUMNS}, coalesce(({_AUDIENCE_FILTER}), false) AS selected
      FROM (SELECT * FROM members
             WHERE tenant_id = %(t)s AND id > coalesce(%(cursor)s::uuid, '00000000-0000-0000-0000-000000000000')
             ORDER BY id LIMIT %(limit)s) m
      {LATEST_STORE_EACH}
     ORDER BY m.id
"""


async def audience_page(
    conn: Connection, tenant_id: int, audience: Audience, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """The members among the next ``limit`` (by id after ``cursor``) that the filter selects, and
    the new cursor: the last member looked at (None when every member was looked at)."""
    cur = await conn.execute(
        AUDIENCE_PAGE, {"t": tenant_id, "cursor": cursor, "limit": limit, **_audience_parameters(audience)}
    )
    rows = await cur.fetchall()
    if not rows:
        return [], None
    return [row for row in rows if row["selected"]], rows[-1]["id"]


# --- broadcasts ------------------------------------------------------------------------------


async def insert_broadcast(
    conn: Connection,
    tenant_id: int,
    *,
    channel: str,
    locale: str,
    subject: str | None,
    body: str,
    filter_: dict[str, Any],
    now: datetime,
    send_at: datetime | None = None,
) -> str:
    row = await (
        await conn.execute(
            "INSERT INTO broadcasts (tenant_id, channel, locale, subject, body, filter, created_at, send_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id::text AS id",
            (tenant_id, channel, locale, subject, body, Jsonb(filter_), now, send_at),
        )
    ).fetchone()
    assert row is not None
    return str(row["id"])


CANCELLED = "broadcast cancelled"  # the error of a broadcast's messages that were never sent

# a broadcast with the count of its messages by status; parameters: CANCELLED, then the WHERE's
_BROADCASTS = """
    SELECT b.id::text AS id, b.channel, b.locale, b.subject, b.body, b.filter, b.status, b.total, b.audience,
           b.created_at, b.expanded_at, b.cancelled_at, b.send_at, coalesce(c.cancelled, 0) AS cancelled,
           coalesce(c.queued, 0) AS queued, coalesce(c.sent, 0) AS sent, coalesce(c.failed, 0) AS failed,
           c.last_sent_at, c.last_failed_at
      FROM broadcasts b
      LEFT JOIN LATERAL (
            SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
                   count(*) FILTER (WHERE status = 'sent') AS sent,
                   count(*) FILTER (WHERE status = 'failed') AS failed,
                   count(*) FILTER (WHERE status = 'failed' AND error = %s) AS cancelled,
                   max(sent_at) AS last_sent_at,
                   -- a failed message's last try was due then (and made within a batch of it)
                   max(next_attempt_at) FILTER (WHERE status = 'failed') AS last_failed_at
              FROM messages g WHERE g.tenant_id = b.tenant_id AND g.broadcast_id = b.id) c ON true
"""


async def broadcast(conn: Connection, tenant_id: int, broadcast_id: str) -> dict[str, Any] | None:
    """A broadcast with the count of its messages by status."""
    cur = await conn.execute(
        _BROADCASTS + " WHERE b.tenant_id = %s AND b.id = %s", (CANCELLED, tenant_id, broadcast_id)
    )
    return await cur.fetchone()


async def list_broadcasts(
    conn: Connection, tenant_id: int, limit: int, before: tuple[datetime, str] | None
) -> list[dict[str, Any]]:
    """Broadcasts, newest first, after the ``(created_at, id)`` of the previous page's last."""
    at, last_id = before if before else (None, None)
    cur = await conn.execute(
        _BROADCASTS
        + " WHERE b.tenant_id = %s AND (%s::timestamptz IS NULL OR (b.created_at, b.id) < (%s, %s::uuid))"
        " ORDER BY b.created_at DESC, b.id DESC LIMIT %s",
        (CANCELLED, tenant_id, at, at, last_id, limit),
    )
    return await cur.fetchall()


async def lock_broadcast(conn: Connection, tenant_id: int, broadcast_id: str) -> dict[str, Any] | None:
    """A broadcast's status, locked for the caller's transaction (a worker expanding a page of it
    holds the same lock until the page is queued)."""
    cur = await conn.execute(
        "SELECT status FROM broadcasts WHERE tenant_id = %s AND id = %s FOR UPDATE", (tenant_id, broadcast_id)
    )
    return await cur.fetchone()


async def has_queued_messages(conn: Connection, tenant_id: int, broadcast_id: str) -> bool:
    cur = await conn.execute(HAS_QUEUED, {"t": tenant_id, "b": broadcast_id})
    return await cur.fetchone() is not None


# Through the due index, in its order, like ``EXPANDING_BROADCAST``: a bare EXISTS was planned
# as a sequential scan of the whole log, expected to meet a queued message early.
HAS_QUEUED = """
    SELECT 1 FROM messages g JOIN broadcasts b ON b.tenant_id = g.tenant_id AND b.channel = g.channel
     WHERE b.tenant_id = %(t)s AND b.id = %(b)s AND g.tenant_id = %(t)s AND g.status = 'queued'
       AND g.broadcast_id = %(b)s
     ORDER BY g.next_attempt_at LIMIT 1
"""


async def cancel_broadcast(conn: Connection, tenant_id: int, broadcast_id: str, now: datetime) -> int:
    """Marks a broadcast cancelled (caller holds its lock): no more pages are expanded, and its
    queued messages that no worker holds fail as cancelled. Returns how many."""
    await conn.execute(
        "UPDATE broadcasts SET status = 'cancelled', cancelled_at = %s WHERE tenant_id = %s AND id = %s",
        (now, tenant_id, broadcast_id),
    )
    return await fail_queued(conn, tenant_id, broadcast_id, wait=False)


async def fail_queued(conn: Connection, tenant_id: int, broadcast_id: str, *, wait: bool) -> int:
    """Fails a cancelled broadcast's queued messages. ``wait=False`` skips those a worker holds
    (it is sending them); ``wait=True`` waits for the worker's batch to end, then fails any that
    came back for a retry. Returns how many."""
    held = "" if wait else " FOR UPDATE SKIP LOCKED"
    # ``g.status = 'queued'`` again outside the subquery: a row that was waited for is checked
    # once more as the worker left it (the subquery's answer is not), so one sent meanwhile stays sent
    cur = await conn.execute(
        "UPDATE messages g SET status = 'failed', error = %(error)s"
        " WHERE g.tenant_id = %(t)s AND g.status = 'queued' AND g.id IN (SELECT q.id FROM messages q"
        "   WHERE q.tenant_id = %(t)s AND q.broadcast_id = %(b)s AND q.status = 'queued'" + held + ")",
        {"error": CANCELLED, "t": tenant_id, "b": broadcast_id},
    )
    return cur.rowcount


async def claim_expanding_broadcast(
    conn: Connection, only: list[int] | None, now: datetime, lead_seconds: float, least: int
) -> dict[str, Any] | None:
    """Locks one broadcast whose members are still being turned into messages, whose time has come
    (``send_at``), and which does not already have enough of them due: ``lead_seconds`` of its
    channel's rate, at least ``least`` (a channel without a rate, or not set up yet, counts as
    ``least`` per second)."""
    cur = await conn.execute(
        EXPANDING_BROADCAST, {"only": only, "now": now, "lead": lead_seconds, "least": least}
    )
    return await cur.fetchone()


# The due messages are counted through the due index (``messages_due``, only queued messages), in
# its order: without the ORDER BY, PostgreSQL planned a sequential scan of the whole message log
# that expected to meet enough due messages early (they are the newest, at its end), and it ran
# every half second in every worker, costing more as the log grew.
EXPANDING_BROADCAST = """
    SELECT b.tenant_id, b.id::text AS id, b.channel, b.locale, b.subject, b.body, b.filter,
           b.cursor::text AS cursor, b.total, b.audience
      FROM broadcasts b LEFT JOIN channels c ON c.tenant_id = b.tenant_id AND c.channel = b.channel
     CROSS JOIN LATERAL (SELECT greatest(%(least)s,
                                 ceil(coalesce(c.rate_per_second, %(least)s) * %(lead)s))::int AS ahead) a
     WHERE b.status = 'expanding' AND (b.send_at IS NULL OR b.send_at <= %(now)s)
       AND (%(only)s::bigint[] IS NULL OR b.tenant_id = ANY(%(only)s))
       AND (SELECT count(*) FROM (SELECT 1 FROM messages g
                                   WHERE g.tenant_id = b.tenant_id AND g.channel = b.channel
                                     AND g.status = 'queued' AND g.next_attempt_at <= %(now)s
                                     AND g.broadcast_id = b.id
                                   ORDER BY g.next_attempt_at LIMIT a.ahead) due) < a.ahead
     ORDER BY b.created_at LIMIT 1 FOR UPDATE OF b SKIP LOCKED
"""


async def advance_broadcast(
    conn: Connection,
    tenant_id: int,
    broadcast_id: str,
    cursor: str | None,
    added: int,
    now: datetime,
    audience: int | None = None,
) -> None:
    """Moves the cursor on; a null cursor means every member was looked at. ``audience`` is set
    once, with the first page."""
    await conn.execute(
        "UPDATE broadcasts SET cursor = coalesce(%(cursor)s::uuid, cursor), total = total + %(added)s,"
        " audience = coalesce(audience, %(audience)s),"
        " status = CASE WHEN %(cursor)s::uuid IS NULL THEN 'expanded' ELSE status END,"
        " expanded_at = CASE WHEN %(cursor)s::uuid IS NULL THEN %(now)s ELSE expanded_at END"
        " WHERE tenant_id = %(t)s AND id = %(b)s",
        {
            "cursor": cursor,
            "added": added,
            "now": now,
            "t": tenant_id,
            "b": broadcast_id,
            "audience": audience,
        },
    )
