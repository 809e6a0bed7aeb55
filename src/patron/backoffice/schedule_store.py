"""SQL of the scheduled jobs (``schedule``): expiring-points notices and birthday gifts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from patron.db.pool import Connection

# --- expiring points -------------------------------------------------------------------------


async def expiring_lots(
    conn: Connection, tenant_id: int, now: datetime, until: datetime, limit: int
) -> list[dict[str, Any]]:
    """Lots with points left that expire in (now, until] and were not announced yet, a member's
    lots together. The lots of the window are found first (``lots_expiry``) and only then sorted
    by member: left to itself, PostgreSQL walked all of a tenant's lots in member order to find
    them (a million lots: 263 ms a run against 39 ms)."""
    cur = await conn.execute(
        "WITH due AS MATERIALIZED ("
        "  SELECT l.id, l.member_id, l.remaining, l.expires_at FROM lots l"
        "   WHERE l.tenant_id = %(t)s AND l.expires_at > %(now)s AND l.expires_at <= %(until)s"
        "     AND l.remaining > 0 AND NOT EXISTS (SELECT 1 FROM expiry_notices n"
        "       WHERE n.tenant_id = l.tenant_id AND n.lot_id = l.id))"
        " SELECT id, member_id::text AS member_id, remaining AS points, expires_at FROM due"
        " ORDER BY member_id, expires_at LIMIT %(limit)s",
        {"t": tenant_id, "now": now, "until": until, "limit": limit},
    )
    return await cur.fetchall()


async def claim_notices(
    conn: Connection, tenant_id: int, lots: Sequence[dict[str, Any]], now: datetime
) -> set[int]:
    """Records the lots as announced; returns those this call recorded (not another worker)."""
    if not lots:
        return set()
    cur = await conn.execute(
        "INSERT INTO expiry_notices (tenant_id, lot_id, member_id, created_at)"
        " SELECT %s, l, m, %s FROM unnest(%s::bigint[], %s::uuid[]) AS u(l, m)"
        " ON CONFLICT DO NOTHING RETURNING lot_id",
        (tenant_id, now, [lot["id"] for lot in lots], [lot["member_id"] for lot in lots]),
    )
    return {cast(int, row["lot_id"]) for row in await cur.fetchall()}


async def prune_notices(conn: Connection, before: datetime, limit: int, tenants: list[int] | None) -> int:
    """Deletes up to ``limit`` notices of lots that expired before ``before``; returns how many.
    Such a lot is never announced again (a lot's expiry never changes), and a notice is written
    before its lot expires, so the notices to look at are older than ``before`` too."""
    cur = await conn.execute(
        """
        WITH doomed AS (
            SELECT n.tenant_id, n.lot_id FROM expiry_notices n
              JOIN lots l ON l.tenant_id = n.tenant_id AND l.id = n.lot_id
             WHERE n.created_at < %(before)s AND l.expires_at < %(before)s
               AND (%(tenants)s::bigint[] IS NULL OR n.tenant_id = ANY(%(tenants)s))
             LIMIT %(limit)s
             FOR UPDATE OF n SKIP LOCKED)
        DELETE FROM expiry_notices n USING doomed WHERE n.tenant_id = doomed.tenant_id AND n.lot_id = doomed.lot_id
        """,
        {"before": before, "limit": limit, "tenants": tenants},
    )
    return cur.rowcount


# --- birthdays -------------------------------------------------------------------------------


# a birthday as month * 100 + day, as the index ``members_birthday`` (migration 0014) has it
BIRTHDAY_MONTH_DAY = "(extract(month FROM m.birthday) * 100 + extract(day FROM m.birthday))::int"


async def birthday_candidates(
    conn: Connection, tenant_id: int, occurrences: list[tuple[int, int]]
) -> list[dict[str, Any]]:
    """Members whose birthday (as month * 100 + day) is one of ``occurrences`` and who have no
    gift yet for that birthday's year (the entry key ``birthday:<year>``). The ``= ANY`` repeats
    the join's condition so that PostgreSQL reads only those birthdays from the index."""
    month_days = [md for md, _ in occurrences]
    cur = await conn.execute(
        f"SELECT m.id::text AS id, m.birthday FROM members m"
        f" JOIN unnest(%(month_days)s::int[], %(years)s::int[]) AS o(month_day, year)"
        f"   ON {BIRTHDAY_MONTH_DAY} = o.month_day"
        f" WHERE m.tenant_id = %(tenant)s AND m.birthday IS NOT NULL"
        f"   AND {BIRTHDAY_MONTH_DAY} = ANY(%(month_days)s::int[])"
        f"   AND NOT EXISTS (SELECT 1 FROM entries e"
        f"     WHERE e.tenant_id = m.tenant_id AND e.member_id = m.id AND e.key = 'birthday:' || o.year)",
        {"month_days": month_days, "years": [year for _, year in occurrences], "tenant": tenant_id},
    )
    return await cur.fetchall()


async def has_entry_key(conn: Connection, tenant_id: int, member_id: str, key: str) -> bool:
    row = await (
        await conn.execute(
            "SELECT 1 FROM entries WHERE tenant_id = %s AND member_id = %s AND key = %s",
            (tenant_id, member_id, key),
        )
    ).fetchone()
    return row is not None
