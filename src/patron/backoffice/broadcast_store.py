"""SQL of broadcasts: their audience (the members a filter selects), the broadcasts themselves,
their lanes (the audience cut by member id, each sent a page at a time), and their cancellation."""

from __future__ import annotations

from collections.abc import Sequence
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
# audience (bench/backoffice.py, 2026-12-06). Only the members chosen are returned: a page handed
# every member it looked at to the worker, which parsed 250 rows to send 90.
AUDIENCE_PAGE = f"""
    SELECT {MEMBER_COLUMNS}, m.looked, m.last_looked
      FROM (SELECT p.*, count(*) OVER () AS looked, max(p.id::text) OVER () AS last_looked
              FROM (SELECT * FROM members
                     WHERE tenant_id = %(t)s AND id > %(after_id)s::uuid AND id <= %(last_id)s::uuid
                     ORDER BY id LIMIT %(look)s) p) m
      {LATEST_STORE_EACH}
     WHERE {_AUDIENCE_FILTER}
     ORDER BY m.id LIMIT %(limit)s
"""
LOOKED_AT = """
    SELECT count(*) AS looked, max(id::text) AS last_looked
      FROM (SELECT id FROM members WHERE tenant_id = %(t)s AND id > %(after_id)s::uuid AND id <= %(last_id)s::uuid
             ORDER BY id LIMIT %(look)s) p
"""


@dataclass(frozen=True, slots=True)
class AudiencePage:
    chosen: list[dict[str, Any]]  # the members the filter selects, ``limit`` at most, in id order
    looked: int  # members looked at
    last_looked: str | None  # the last of them


async def audience_page(
    conn: Connection, tenant_id: int, audience: Audience, after: str, last: str, look: int, limit: int
) -> AudiencePage:
    """Of the next ``look`` members by id after ``after`` and up to ``last``, those the filter
    selects, the first ``limit`` of them."""
    params = {"t": tenant_id, "after_id": after, "last_id": last, "look": look, "limit": limit}
    rows = await (await conn.execute(AUDIENCE_PAGE, {**params, **_audience_parameters(audience)})).fetchall()
    if rows:
        return AudiencePage(rows, int(rows[0]["looked"]), rows[0]["last_looked"])
    row = await (await conn.execute(LOOKED_AT, params)).fetchone()  # no one chosen: how far it looked
    assert row is not None
    return AudiencePage([], int(row["looked"]), row["last_looked"])


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
    SELECT b.id::text AS id, b.channel, b.locale, b.subject, b.body, b.filter, b.status, b.audience,
           coalesce(c.total, 0) AS total, b.created_at, b.expanded_at, b.cancelled_at, b.send_at, coalesce(c.cancelled, 0) AS cancelled,
           coalesce(c.queued, 0) AS queued, coalesce(c.sent, 0) AS sent, coalesce(c.failed, 0) AS failed,
           c.last_sent_at, c.last_failed_at
      FROM broadcasts b
      LEFT JOIN LATERAL (
            SELECT count(*) AS total, count(*) FILTER (WHERE status = 'queued') AS queued,
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
    """A broadcast's status, locked for the caller's transaction (the worker opening it holds the
    same lock until its lanes are written)."""
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


# --- sending: a broadcast's lanes ------------------------------------------------------------


async def broadcast_to_open(conn: Connection, only: list[int] | None, now: datetime) -> dict[str, Any] | None:
    """Locks one broadcast whose time has come (``send_at``) and whose lanes are not made yet."""
    cur = await conn.execute(
        """
        SELECT b.tenant_id, b.id::text AS id, b.channel, b.filter, b.cursor::text AS cursor, b.audience
          FROM broadcasts b
         WHERE b.status = 'expanding' AND (b.send_at IS NULL OR b.send_at <= %(now)s)
           AND (%(only)s::bigint[] IS NULL OR b.tenant_id = ANY(%(only)s))
           AND NOT EXISTS (SELECT 1 FROM broadcast_lanes l WHERE l.tenant_id = b.tenant_id AND l.broadcast_id = b.id)
         ORDER BY b.created_at LIMIT 1 FOR UPDATE OF b SKIP LOCKED
        """,
        {"only": only, "now": now},
    )
    return await cur.fetchone()


async def open_lanes(
    conn: Connection,
    tenant_id: int,
    broadcast_id: str,
    lanes: Sequence[tuple[int, str | None, bool]],
    audience: int,
) -> None:
    """Writes a broadcast's lanes, each ``(lane, cursor, done)``, and its audience."""
    await conn.execute(
        "INSERT INTO broadcast_lanes (tenant_id, broadcast_id, lane, cursor, done)"
        " SELECT %s, %s, u.lane, u.cursor, u.done FROM unnest(%s::smallint[], %s::uuid[], %s::boolean[])"
        " AS u(lane, cursor, done)",
        (
            tenant_id,
            broadcast_id,
            [lane for lane, _, _ in lanes],
            [cursor for _, cursor, _ in lanes],
            [done for _, _, done in lanes],
        ),
    )
    await conn.execute(
        "UPDATE broadcasts SET audience = %s WHERE tenant_id = %s AND id = %s",
        (audience, tenant_id, broadcast_id),
    )


async def finish_broadcasts(conn: Connection, only: list[int] | None, now: datetime) -> int:
    """Marks sent (``expanded``) the broadcasts whose every lane is done; returns how many."""
    cur = await conn.execute(
        """
        UPDATE broadcasts b SET status = 'expanded', expanded_at = %(now)s
         WHERE b.status = 'expanding' AND (%(only)s::bigint[] IS NULL OR b.tenant_id = ANY(%(only)s))
           AND EXISTS (SELECT 1 FROM broadcast_lanes l WHERE l.tenant_id = b.tenant_id AND l.broadcast_id = b.id)
           AND NOT EXISTS (SELECT 1 FROM broadcast_lanes l
                            WHERE l.tenant_id = b.tenant_id AND l.broadcast_id = b.id AND NOT l.done)
        """,
        {"only": only, "now": now},
    )
    return cur.rowcount


async def claim_lane(conn: Connection, tenant_id: int, channel: str) -> dict[str, Any] | None:
    """Locks, for the caller's transaction, a lane not yet done of a broadcast of this channel
    being sent (the oldest broadcast first), with the broadcast and its program's settings.
    Other senders skip it while it is locked."""
    cur = await conn.execute(
        """
        SELECT b.id::text AS id, b.channel, b.locale, b.subject, b.body, b.filter, l.lane,
               l.cursor::text AS cursor, t.id AS tenant_id, t.slug, t.settings, t.version
          FROM broadcasts b
          JOIN broadcast_lanes l ON l.tenant_id = b.tenant_id AND l.broadcast_id = b.id
          JOIN tenants t ON t.id = b.tenant_id
         WHERE b.tenant_id = %(t)s AND b.channel = %(c)s AND b.status = 'expanding' AND NOT l.done
         ORDER BY b.created_at, l.lane LIMIT 1 FOR UPDATE OF l SKIP LOCKED
        """,
        {"t": tenant_id, "c": channel},
    )
    return await cur.fetchone()


async def advance_lane(
    conn: Connection, tenant_id: int, broadcast_id: str, lane: int, cursor: str | None, done: bool
) -> None:
    await conn.execute(
        "UPDATE broadcast_lanes SET cursor = coalesce(%s::uuid, cursor), done = %s"
        " WHERE tenant_id = %s AND broadcast_id = %s AND lane = %s",
        (cursor, done, tenant_id, broadcast_id, lane),
    )


async def wait_for_lanes(conn: Connection, tenant_id: int, broadcast_id: str) -> None:
    """Waits until no sender holds a lane of the broadcast (a page in flight)."""
    await conn.execute(
        "SELECT lane FROM broadcast_lanes WHERE tenant_id = %s AND broadcast_id = %s FOR UPDATE",
        (tenant_id, broadcast_id),
    )
