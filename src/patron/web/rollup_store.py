"""SQL of the dashboard's daily rollup (tables and triggers in migration ``0008_dashboard``).

Days are local days of the rollup's time zone; the rollup holds every day before
``closed_until`` (a day with no row had nothing). The admin app fills it from the same per-day
queries as the live dashboard (``report_store``), so its numbers are the live ones."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from patron.db.pool import Connection

BASE_COLUMNS = ("receipts", "paid", "discount", "issued", "spent", "net", "expired")


async def state(conn: Connection, tenant_id: int) -> dict[str, Any] | None:
    """The rollup's time zone and first day not held, whether marks wait, and the database's
    time less two days (the latest a day may end to be closed)."""
    return await (
        await conn.execute(
            "SELECT s.tz, s.closed_until,"
            " EXISTS (SELECT 1 FROM dashboard_marks m WHERE m.tenant_id = %(t)s) AS marked,"
            " now() - interval '2 days' AS closable"
            " FROM (SELECT 1) one LEFT JOIN dashboard_state s ON s.tenant_id = %(t)s",
            {"t": tenant_id},
        )
    ).fetchone()


async def lock(conn: Connection, tenant_id: int) -> None:
    """One refresher per tenant at a time (until the transaction ends)."""
    await conn.execute("SELECT pg_advisory_xact_lock(8008, %s::int)", (tenant_id,))


async def reset(conn: Connection, tenant_id: int) -> None:
    """Forgets the tenant's rollup (a new time zone makes other days)."""
    for table in (
        "dashboard_days",
        "dashboard_campaign_days",
        "dashboard_campaign_members",
        "dashboard_state",
    ):
        await conn.execute(f"DELETE FROM {table} WHERE tenant_id = %s", (tenant_id,))


async def take_marks(conn: Connection, tenant_id: int) -> list[date]:
    """The UTC days marked changed (committed so far), deleting the marks read."""
    cur = await conn.execute("DELETE FROM dashboard_marks WHERE tenant_id = %s RETURNING day", (tenant_id,))
    return sorted({row["day"] for row in await cur.fetchall()})


async def save_state(conn: Connection, tenant_id: int, tz: str, closed_until: date) -> None:
    await conn.execute(
        "INSERT INTO dashboard_state (tenant_id, tz, closed_until) VALUES (%s, %s, %s)"
        " ON CONFLICT (tenant_id) DO UPDATE SET tz = excluded.tz, closed_until = excluded.closed_until",
        (tenant_id, tz, closed_until),
    )


async def write_base(
    conn: Connection, tenant_id: int, first: date | None, after: date, rows: dict[date, dict[str, Any]]
) -> None:
    """Replaces the summed figures of days [first, after) (from the first day if ``first`` is None)."""
    await conn.execute(
        "UPDATE dashboard_days SET receipts = 0, paid = 0, discount = 0, issued = 0, spent = 0, net = 0,"
        " expired = 0 WHERE tenant_id = %s AND (%s::date IS NULL OR day >= %s) AND day < %s",
        (tenant_id, first, first, after),
    )
    if not rows:
        return
    days = sorted(rows)
    columns: list[list[Any]] = [
        [Decimal(rows[d][c]) if c in ("paid", "discount") else int(rows[d][c]) for d in days]
        for c in BASE_COLUMNS
    ]
    await conn.execute(
        "INSERT INTO dashboard_days (tenant_id, day, receipts, paid, discount, issued, spent, net, expired)"
        " SELECT %s, * FROM unnest(%s::date[], %s::bigint[], %s::numeric[], %s::numeric[], %s::bigint[],"
        " %s::bigint[], %s::bigint[], %s::bigint[])"
        " ON CONFLICT (tenant_id, day) DO UPDATE SET receipts = excluded.receipts, paid = excluded.paid,"
        " discount = excluded.discount, issued = excluded.issued, spent = excluded.spent, net = excluded.net,"
        " expired = excluded.expired",
        (tenant_id, days, *columns),
    )


async def write_active(
    conn: Connection, tenant_id: int, first: date, after: date, active: dict[date, int]
) -> None:
    """Replaces the active-member counts of days [first, after)."""
    await conn.execute(
        "UPDATE dashboard_days SET active = 0 WHERE tenant_id = %s AND day >= %s AND day < %s",
        (tenant_id, first, after),
    )
    days = sorted(d for d, n in active.items() if n)
    if not days:
        return
    await conn.execute(
        "INSERT INTO dashboard_days (tenant_id, day, active)"
        " SELECT %s, * FROM unnest(%s::date[], %s::bigint[])"
        " ON CONFLICT (tenant_id, day) DO UPDATE SET active = excluded.active",
        (tenant_id, days, [active[d] for d in days]),
    )


async def write_campaigns(
    conn: Connection,
    tenant_id: int,
    first: date | None,
    after: date,
    since: datetime,
    until: datetime,
    tz: str,
) -> None:
    """Replaces what campaigns gave on days [first, after), whose instants are [since, until):
    per day and campaign (net of returns), and the days each campaign reached each member."""
    await conn.execute(
        "DELETE FROM dashboard_campaign_days WHERE tenant_id = %s AND (%s::date IS NULL OR day >= %s)"
        " AND day < %s",
        (tenant_id, first, first, after),
    )
    await conn.execute(
        "INSERT INTO dashboard_campaign_days (tenant_id, day, campaign_id, receipts, discount, points)"
        " SELECT rc.tenant_id, (r.at AT TIME ZONE %(tz)s)::date, rc.campaign_id, count(*),"
        " sum(rc.discount - rc.released_discount), sum(rc.points - rc.released_points)"
        " FROM receipt_campaigns rc JOIN receipts r ON r.tenant_id = rc.tenant_id AND r.id = rc.receipt_id"
        " WHERE rc.tenant_id = %(t)s AND r.at >= %(since)s AND r.at < %(until)s"
        " AND r.status <> 'cancelled' GROUP BY 1, 2, 3",
        {"t": tenant_id, "tz": tz, "since": since, "until": until},
    )
    lower = first or date.min
    await conn.execute(
        "UPDATE dashboard_campaign_members SET days = days - datemultirange(daterange(%(a)s, %(b)s))"
        " WHERE tenant_id = %(t)s AND days && daterange(%(a)s, %(b)s)",
        {"t": tenant_id, "a": lower, "b": after},
    )
    await conn.execute(
        "INSERT INTO dashboard_campaign_members (tenant_id, campaign_id, member_id, days)"
        " SELECT %(t)s, campaign_id, member_id, range_agg(daterange(day, day, '[]')) FROM ("
        "   SELECT DISTINCT rc.campaign_id, rc.member_id, (r.at AT TIME ZONE %(tz)s)::date AS day"
        "     FROM receipt_campaigns rc JOIN receipts r ON r.tenant_id = rc.tenant_id AND r.id = rc.receipt_id"
        "    WHERE rc.tenant_id = %(t)s AND rc.member_id IS NOT NULL AND r.at >= %(since)s AND r.at < %(until)s"
        "      AND r.status <> 'cancelled'"
        " ) d GROUP BY campaign_id, member_id"
        " ON CONFLICT (tenant_id, campaign_id, member_id)"
        " DO UPDATE SET days = dashboard_campaign_members.days + excluded.days",
        {"t": tenant_id, "tz": tz, "since": since, "until": until},
    )


async def days_before(conn: Connection, tenant_id: int, before: date) -> list[dict[str, Any]]:
    """Every rollup row before ``before``."""
    cur = await conn.execute(
        "SELECT day, receipts, paid, discount, issued, spent, net, expired, active FROM dashboard_days"
        " WHERE tenant_id = %s AND day < %s",
        (tenant_id, before),
    )
    return await cur.fetchall()


async def campaign_results(
    conn: Connection,
    tenant_id: int,
    first: date,
    after: date,
    tail_since: datetime,
    until: datetime,
) -> list[dict[str, Any]]:
    """Each campaign's reach and cost over the rollup's days [first, after) and the receipts of
    [tail_since, until) read live; a member reached in both counts once."""
    cur = await conn.execute(
        """
        WITH tail AS (
            SELECT rc.campaign_id, rc.member_id, rc.discount - rc.released_discount AS discount,
                   rc.points - rc.released_points AS points
              FROM receipt_campaigns rc
              JOIN receipts r ON r.tenant_id = rc.tenant_id AND r.id = rc.receipt_id
             WHERE rc.tenant_id = %(t)s AND r.at >= %(tail)s AND r.at < %(until)s AND r.status <> 'cancelled'
        ), sums AS (
            SELECT campaign_id, sum(receipts) AS receipts, sum(discount) AS discount, sum(points) AS points
              FROM (SELECT campaign_id, receipts, discount, points FROM dashboard_campaign_days
                     WHERE tenant_id = %(t)s AND day >= %(a)s AND day < %(b)s
                    UNION ALL SELECT campaign_id, 1, discount, points FROM tail) x
             GROUP BY campaign_id
        ), reach AS (
            SELECT campaign_id, count(*) AS members
              FROM (SELECT campaign_id, member_id FROM dashboard_campaign_members
                     WHERE tenant_id = %(t)s AND %(a)s < %(b)s AND days && daterange(%(a)s, %(b)s)
                    UNION SELECT campaign_id, member_id FROM tail WHERE member_id IS NOT NULL) m
             GROUP BY campaign_id
        )
        SELECT s.campaign_id::text AS id, c.definition->>'name' AS name, s.receipts::bigint AS receipts,
               coalesce(m.members, 0) AS members, coalesce(s.discount, 0) AS discount,
               coalesce(s.points, 0)::bigint AS points
          FROM sums s LEFT JOIN reach m ON m.campaign_id = s.campaign_id
          LEFT JOIN campaigns c ON c.tenant_id = %(t)s AND c.id = s.campaign_id
         ORDER BY 5 DESC, 3 DESC, 1
        """,
        {"t": tenant_id, "a": first, "b": after, "tail": tail_since, "until": until},
    )
    return await cur.fetchall()
