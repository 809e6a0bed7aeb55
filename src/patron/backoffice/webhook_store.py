"""SQL for webhooks and their deliveries (contract 10)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from patron.db.pool import Connection

_COLUMNS = "id::text AS id, url, events, created_at"


async def insert(
    conn: Connection, tenant_id: int, url: str, events: list[str], secret: str
) -> dict[str, Any]:
    row = await (
        await conn.execute(
            f"INSERT INTO webhooks (tenant_id, url, events, secret) VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}",
            (tenant_id, url, events, secret),
        )
    ).fetchone()
    assert row is not None
    return row


async def get(conn: Connection, tenant_id: int, webhook_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM webhooks WHERE tenant_id = %s AND id = %s AND deleted_at IS NULL",
        (tenant_id, webhook_id),
    )
    return await cur.fetchone()


async def list_all(conn: Connection, tenant_id: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM webhooks WHERE tenant_id = %s AND deleted_at IS NULL ORDER BY created_at, id",
        (tenant_id,),
    )
    return await cur.fetchall()


DELETED = "the webhook was deleted"  # the error of a deleted webhook's deliveries


async def delete(conn: Connection, tenant_id: int, webhook_id: str, now: datetime) -> bool:
    """Stops a webhook (its delivery log stays readable to the database, not to the API). Its
    pending deliveries fail at once: no worker would ever send them, and the pruning of the log
    keeps pending ones, so they would stay for good. Those a worker holds at this moment (being
    sent, or locked by an event's deliveries being written behind them) are skipped, not waited
    for: waiting deadlocked with a worker writing behind two of them. They, and any a worker's
    transaction writes after this one, are failed by the workers' scheduled look
    (``fail_deleted``), and no claim takes them meanwhile."""
    cur = await conn.execute(
        "UPDATE webhooks SET deleted_at = %s WHERE tenant_id = %s AND id = %s AND deleted_at IS NULL",
        (now, tenant_id, webhook_id),
    )
    if cur.rowcount == 0:
        return False
    await conn.execute(
        f"UPDATE webhook_deliveries SET status = 'failed', last_error = '{DELETED}'"
        " WHERE tenant_id = %(t)s AND id IN (SELECT id FROM webhook_deliveries"
        "   WHERE tenant_id = %(t)s AND webhook_id = %(w)s AND status = 'pending' FOR UPDATE SKIP LOCKED)",
        {"t": tenant_id, "w": webhook_id},
    )
    return True


async def fail_deleted(conn: Connection, tenants: list[int] | None) -> int:
    """Fails the pending deliveries of deleted webhooks that their deletion could not (a worker
    held them, or wrote them in a transaction that committed after it); returns how many."""
    cur = await conn.execute(
        f"UPDATE webhook_deliveries d SET status = 'failed', last_error = '{DELETED}'"
        "  FROM webhooks w"
        " WHERE w.tenant_id = d.tenant_id AND w.id = d.webhook_id AND w.deleted_at IS NOT NULL"
        "   AND d.status = 'pending' AND (%(tenants)s::bigint[] IS NULL OR d.tenant_id = ANY(%(tenants)s))",
        {"tenants": tenants},
    )
    return cur.rowcount


async def subscribed(conn: Connection, tenant_id: int, event_type: str, occurred_at: datetime) -> list[str]:
    """The webhooks of ``event_type`` that existed when the event occurred: the worker may handle
    an event long after (it was stopped, or behind), and a webhook created since got events from
    before it was subscribed."""
    cur = await conn.execute(
        "SELECT id::text AS id FROM webhooks WHERE tenant_id = %s AND deleted_at IS NULL AND %s = ANY(events)"
        " AND created_at <= %s",
        (tenant_id, event_type, occurred_at),
    )
    return [str(row["id"]) for row in await cur.fetchall()]


async def insert_deliveries(
    conn: Connection,
    tenant_id: int,
    event_id: int,
    member_id: str | None,
    webhook_ids: Sequence[str],
    now: datetime,
) -> None:
    """Writes an event's deliveries: due now, or, behind an earlier pending delivery of the member
    to the same webhook, not due at all (``next_attempt_at`` NULL, outside the due index) until
    ``record`` ends that one. The earlier one is locked (FOR SHARE): its outcome, recorded
    meanwhile, would not see this new delivery to make it due, and it would wait for ever."""
    if not webhook_ids:
        return
    waiting: set[str] = set()
    if member_id is not None:
        cur = await conn.execute(
            "SELECT w::text AS webhook_id FROM unnest(%(hooks)s::uuid[]) AS w, LATERAL ("
            "   SELECT 1 FROM webhook_deliveries e"
            "    WHERE e.tenant_id = %(t)s AND e.webhook_id = w AND e.member_id = %(m)s"
            "      AND e.status = 'pending' AND e.event_id < %(event)s"
            "    ORDER BY e.event_id LIMIT 1 FOR SHARE) ahead",
            {"hooks": list(webhook_ids), "t": tenant_id, "m": member_id, "event": event_id},
        )
        waiting = {str(row["webhook_id"]) for row in await cur.fetchall()}
    await conn.execute(
        "INSERT INTO webhook_deliveries (tenant_id, webhook_id, event_id, member_id, next_attempt_at, created_at)"
        " SELECT %s, w, %s, %s, n, %s FROM unnest(%s::uuid[], %s::timestamptz[]) AS x(w, n)"
        " ON CONFLICT (tenant_id, webhook_id, event_id) DO NOTHING",
        (
            tenant_id,
            event_id,
            member_id,
            now,
            list(webhook_ids),
            [None if hook in waiting else now for hook in webhook_ids],
        ),
    )


# Whether any delivery is due, read from ``deliveries_due`` alone and in its order (as an EXISTS,
# PostgreSQL read the whole table when its statistics promised a due delivery early in it). It
# takes a tenth of the claim's planning (0.04 ms against 0.3 on an empty database; the claim took
# 1.5 to 2 ms under a benchmark's load), and the claim, with its joins and look-ups, is planned
# anew each time (its programs' filter keeps PostgreSQL on custom plans), while a worker looks
# twice a second, mostly to find nothing due.
ANY_DUE = """
SELECT d.next_attempt_at FROM webhook_deliveries d
 WHERE d.status = 'pending' AND d.next_attempt_at <= %(now)s
   AND (%(only)s::bigint[] IS NULL OR d.tenant_id = ANY(%(only)s))
 ORDER BY d.next_attempt_at
 LIMIT 1
"""


async def any_due(conn: Connection, now: datetime, only: list[int] | None) -> bool:
    """Whether a delivery (of the given programs) is due at ``now``; the claim may still find
    none it can take (their webhooks deleted, or behind a delivery ahead)."""
    return await (await conn.execute(ANY_DUE, {"now": now, "only": only})).fetchone() is not None


# Read in the order of ``deliveries_due`` (next_attempt_at, id), so no plan sorts the due set (a
# generic plan sorted every due delivery, for each claim). A deleted webhook's deliveries are left
# out before the LIMIT: a few left pending (see ``delete``), first in the index, made every claim
# come back empty, for every program. That look is a scalar subquery, not an EXISTS, which
# PostgreSQL made a join from the webhooks that read and sorted all their due deliveries.
CLAIM_DUE = """
WITH due AS MATERIALIZED (
    SELECT d.tenant_id, d.id, d.webhook_id, d.event_id, d.attempts, d.created_at,
           coalesce(d.due_since, d.created_at) AS due_since
      FROM webhook_deliveries d
     WHERE d.status = 'pending' AND d.next_attempt_at <= %(now)s
       AND (%(only)s::bigint[] IS NULL OR d.tenant_id = ANY(%(only)s))
       AND d.webhook_id <> ALL(%(full)s::uuid[]) AND d.tenant_id <> ALL(%(full_tenants)s::bigint[])
       AND coalesce((SELECT l.deleted_at IS NULL FROM webhooks l
                      WHERE l.tenant_id = d.tenant_id AND l.id = d.webhook_id), false)
       AND (d.member_id IS NULL OR NOT EXISTS (
             SELECT 1 FROM webhook_deliveries e
              WHERE e.tenant_id = d.tenant_id AND e.webhook_id = d.webhook_id
                AND e.member_id = d.member_id AND e.status = 'pending' AND e.event_id < d.event_id))
     ORDER BY d.next_attempt_at, d.id
     LIMIT %(limit)s
     FOR UPDATE OF d SKIP LOCKED)
SELECT due.tenant_id, due.id, due.webhook_id::text AS webhook_id, due.event_id, due.attempts,
       due.created_at, due.due_since, w.url, w.secret, o.uid::text AS uid, o.type, o.occurred_at, o.data,
       t.slug AS tenant
  FROM due
  JOIN webhooks w ON w.tenant_id = due.tenant_id AND w.id = due.webhook_id AND w.deleted_at IS NULL
  JOIN outbox o ON o.tenant_id = due.tenant_id AND o.id = due.event_id
  JOIN tenants t ON t.id = due.tenant_id
 ORDER BY due.id
"""


async def claim_due(
    conn: Connection,
    now: datetime,
    limit: int,
    only: list[int] | None,
    full: Sequence[str] = (),
    full_tenants: Sequence[int] = (),
) -> list[dict[str, Any]]:
    """Locks deliveries that are due and first in line: none waits behind an earlier pending
    delivery of the same member to the same webhook, so a member's events arrive in order. Those
    that wait are not due (``insert_deliveries``), so a claim reads about ``limit`` rows of the due
    index, in its order, however many wait behind a receiver that is down; the NOT EXISTS only
    checks it.
    ``full``: webhooks that take no more now; ``full_tenants``: programs that take no more now. The due deliveries are found first, from their own
    index, and only those are joined to their events: driven from the outbox, a backlog behind
    a receiver that was down took most of a second to find nothing."""
    cur = await conn.execute(
        CLAIM_DUE,
        {"now": now, "limit": limit, "only": only, "full": list(full), "full_tenants": list(full_tenants)},
    )
    return await cur.fetchall()


async def lease(conn: Connection, deliveries: Sequence[tuple[int, int]], until: datetime) -> None:
    """Claimed deliveries are due again at ``until`` unless their outcome is recorded first."""
    if not deliveries:
        return
    await conn.execute(
        "UPDATE webhook_deliveries d SET next_attempt_at = %s FROM unnest(%s::bigint[], %s::bigint[]) AS c(t, i)"
        " WHERE d.tenant_id = c.t AND d.id = c.i",
        (until, [t for t, _ in deliveries], [i for _, i in deliveries]),
    )


async def record(
    conn: Connection,
    tenant_id: int,
    delivery_id: int,
    *,
    status: str,
    last_status: int | None,
    last_error: str | None,
    next_attempt_at: datetime | None,
    delivered_at: datetime | None,
    now: datetime,
) -> None:
    """Records an attempt's outcome. A delivery that ended (delivered, or given up) makes its
    member's next pending one to the webhook due at ``now``: one probe of the member's pending
    deliveries. In a statement of its own, so that it sees a delivery written behind this one
    while this one was being recorded (``insert_deliveries`` locks it)."""
    cur = await conn.execute(
        "UPDATE webhook_deliveries SET status = %s, attempts = attempts + 1, last_status = %s, last_error = %s,"
        " next_attempt_at = coalesce(%s, next_attempt_at), delivered_at = %s"
        " WHERE tenant_id = %s AND id = %s AND status = 'pending'"
        " RETURNING webhook_id, member_id",
        (status, last_status, last_error, next_attempt_at, delivered_at, tenant_id, delivery_id),
    )
    ended = await cur.fetchone()
    if ended is None or status == "pending" or ended["member_id"] is None:
        return
    await conn.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = %(now)s, due_since = %(now)s"
        " WHERE tenant_id = %(t)s AND next_attempt_at IS NULL AND id = ("
        "   SELECT e.id FROM webhook_deliveries e"
        "    WHERE e.tenant_id = %(t)s AND e.webhook_id = %(w)s AND e.member_id = %(m)s AND e.status = 'pending'"
        "    ORDER BY e.event_id LIMIT 1)",
        {"now": now, "t": tenant_id, "w": ended["webhook_id"], "m": ended["member_id"]},
    )


async def deliveries(
    conn: Connection, tenant_id: int, webhook_id: str, limit: int, before: int | None
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        """
        SELECT d.id, o.uid::text AS event_id, o.type, d.status, d.attempts, d.last_status, d.last_error,
               d.created_at, CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
               d.delivered_at, d.member_id::text AS member_id
          FROM webhook_deliveries d JOIN outbox o ON o.tenant_id = d.tenant_id AND o.id = d.event_id
         WHERE d.tenant_id = %s AND d.webhook_id = %s AND (%s::bigint IS NULL OR d.id < %s)
         ORDER BY d.id DESC LIMIT %s
        """,
        (tenant_id, webhook_id, before, before, limit),
    )
    return await cur.fetchall()


async def release_stranded(conn: Connection, now: datetime, tenants: list[int] | None) -> int:
    """Makes due the waiting deliveries that nothing waits for any more: none of their member's
    earlier deliveries to the webhook is still pending. ``record`` does that when the one ahead
    ends; this catches what it could not (a worker of the version before waiting deliveries,
    during an upgrade), so that no delivery waits for ever. Returns how many."""
    cur = await conn.execute(
        """
        UPDATE webhook_deliveries d SET next_attempt_at = %(now)s, due_since = %(now)s
         WHERE d.status = 'pending' AND d.next_attempt_at IS NULL
           AND (%(tenants)s::bigint[] IS NULL OR d.tenant_id = ANY(%(tenants)s))
           AND NOT coalesce((
               SELECT true FROM webhook_deliveries e
                WHERE e.tenant_id = d.tenant_id AND e.webhook_id = d.webhook_id AND e.member_id = d.member_id
                  AND e.status = 'pending' AND e.event_id < d.event_id LIMIT 1), false)
        """,
        {"now": now, "tenants": tenants},
    )
    return cur.rowcount


async def prune(conn: Connection, before: datetime, limit: int, tenants: list[int] | None) -> int:
    """Deletes up to ``limit`` delivered or failed deliveries created before ``before``; returns
    how many. Pending ones stay, whatever their age (they hold their member's later events)."""
    cur = await conn.execute(
        """
        WITH doomed AS (
            SELECT tenant_id, id FROM webhook_deliveries
             WHERE status <> 'pending' AND created_at < %(before)s
               AND (%(tenants)s::bigint[] IS NULL OR tenant_id = ANY(%(tenants)s))
             LIMIT %(limit)s
             FOR UPDATE SKIP LOCKED)
        DELETE FROM webhook_deliveries d USING doomed WHERE d.tenant_id = doomed.tenant_id AND d.id = doomed.id
        """,
        {"before": before, "limit": limit, "tenants": tenants},
    )
    return cur.rowcount
