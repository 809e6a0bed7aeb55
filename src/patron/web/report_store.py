"""SQL for what the admin app reads and the API does not: the dashboard's aggregates, member
search by name, a member's receipts and returns. Everything is scoped by tenant; days are local
days of the program's time zone (``tz``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from psycopg.rows import tuple_row

from patron.db.pool import Connection


async def latest_receipt_at(conn: Connection, tenant_id: int) -> datetime | None:
    row = await (
        await conn.execute("SELECT max(at) AS at FROM receipts WHERE tenant_id = %s", (tenant_id,))
    ).fetchone()
    return None if row is None else cast(datetime | None, row["at"])


# A member counts from when they joined or first bought, whichever came first: members imported
# with their history (or replayed by the demo) joined before their record was made. A cancelled
# receipt (a sale voided) is no purchase, here as in every figure of the dashboard.
_JOINED = (
    "SELECT least(m.created_at, (SELECT min(r.at) FROM receipts r"
    " WHERE r.tenant_id = m.tenant_id AND r.member_id = m.id AND r.status <> 'cancelled')) AS joined,"
    " m.debt FROM members m WHERE m.tenant_id = %(t)s"
)


async def members_by_join_day(conn: Connection, tenant_id: int, tz: str) -> list[dict[str, Any]]:
    """Every member counted on the local day they joined, with the debt they owe."""
    cur = await conn.execute(
        f"WITH j AS ({_JOINED}) SELECT (joined AT TIME ZONE %(tz)s)::date AS day, count(*) AS joined,"
        " coalesce(sum(debt), 0)::bigint AS debt FROM j GROUP BY 1",
        {"t": tenant_id, "tz": tz},
    )
    return await cur.fetchall()


async def receipts_by_day(
    conn: Connection, tenant_id: int, since: datetime, until: datetime, tz: str
) -> list[dict[str, Any]]:
    """Receipts, money paid (net of returns) and discounts per local day. A cancelled receipt (a
    sale voided) counts nowhere; discounts count as given at the sale, except on receipts wholly
    returned. A day with cancelled receipts alone has no row, like a day with none."""
    cur = await conn.execute(
        "SELECT (at AT TIME ZONE %(tz)s)::date AS day, count(*) AS receipts,"
        " count(*) FILTER (WHERE member_id IS NOT NULL) AS member_receipts,"
        " coalesce(sum(amount), 0) AS amount, coalesce(sum(paid_net), 0) AS paid,"
        " coalesce(sum(discount) FILTER (WHERE status <> 'returned'), 0) AS discount"
        " FROM receipts WHERE tenant_id = %(t)s AND at >= %(since)s AND at < %(until)s"
        " AND status <> 'cancelled' GROUP BY 1",
        {"t": tenant_id, "since": since, "until": until, "tz": tz},
    )
    return await cur.fetchall()


async def active_member_changes(
    conn: Connection, tenant_id: int, since: datetime, until: datetime, tz: str, window_days: int
) -> list[dict[str, Any]]:
    """How the number of members with a receipt (not cancelled) in the last ``window_days`` days
    changes per day.

    Each purchase day ``p`` keeps its member active on days ``p .. p + window - 1``; a member's
    overlapping spans are merged, and each span gives +1 on its first day and -1 the day after it
    ends. The running sum of the changes is the rolling count of distinct active members. Callers
    pass ``since`` already ``window_days - 1`` days before the first day they show."""
    cur = await conn.execute(
        """
        WITH d AS (
            SELECT DISTINCT member_id, (at AT TIME ZONE %(tz)s)::date AS day FROM receipts
             WHERE tenant_id = %(t)s AND member_id IS NOT NULL AND at >= %(since)s AND at < %(until)s
               AND status <> 'cancelled'
        ), starts AS (
            SELECT member_id, day,
                   CASE WHEN day - lag(day) OVER (PARTITION BY member_id ORDER BY day) <= %(w)s
                        THEN 0 ELSE 1 END AS new_span
              FROM d
        ), spans AS (
            SELECT member_id, day,
                   sum(new_span) OVER (PARTITION BY member_id ORDER BY day) AS span
              FROM starts
        ), bounds AS (
            SELECT min(day) AS first_day, max(day) + %(w)s AS after_day FROM spans GROUP BY member_id, span
        )
        SELECT day, sum(change)::bigint AS change FROM (
            SELECT first_day AS day, 1 AS change FROM bounds
            UNION ALL SELECT after_day, -1 FROM bounds
        ) e GROUP BY day ORDER BY day
        """,
        {"t": tenant_id, "since": since, "until": until, "tz": tz, "w": window_days},
    )
    return await cur.fetchall()


async def points_by_day(
    conn: Connection, tenant_id: int, since: datetime, until: datetime, tz: str
) -> list[dict[str, Any]]:
    """Point movements per local day: issued (every credit but refunds of spent points and what an
    import brought: opening lots, and the lots an imported receipt's spend was taken from, which
    had counted history's points twice), spent (net of refunds), and the net change of all lot
    remainders (which is what entries record)."""
    cur = await conn.execute(
        "SELECT (at AT TIME ZONE %(tz)s)::date AS day,"
        " coalesce(sum(points) FILTER (WHERE points > 0 AND kind NOT IN ('refund', 'import')), 0)::bigint"
        " AS issued,"
        " coalesce(-sum(points) FILTER (WHERE kind IN ('spend', 'refund')), 0)::bigint AS spent,"
        " coalesce(sum(points), 0)::bigint AS net"
        " FROM entries WHERE tenant_id = %(t)s AND at >= %(since)s AND at < %(until)s GROUP BY 1",
        {"t": tenant_id, "since": since, "until": until, "tz": tz},
    )
    return await cur.fetchall()


async def expired_by_day(
    conn: Connection, tenant_id: int, since: datetime, until: datetime, tz: str
) -> list[dict[str, Any]]:
    """Points left in lots when they expired, for lots expiring in (since, until], per the local
    day that was their last: a lot that expires at 00:00 on the 8th counts on the 7th, so that the
    running total of a day's end agrees with ``outstanding_at`` that midnight.

    What a lot held when it expired is fixed then: points taken from or put back into it later (a
    return takes earned points back from the receipt's own lot, expired or not; a refund goes back
    to the lot it came from) count on their own day, as points that had expired taken back or
    expiring at once. Counted from the lot's remainder now, a later return changed past days'
    figures, and the outstanding line before it."""
    cur = await conn.execute(
        f"""
        SELECT day, sum(points)::bigint AS expired FROM (
            SELECT ((l.expires_at - interval '1 microsecond') AT TIME ZONE %(tz)s)::date AS day,
                   l.points - {_TAKEN_BEFORE_EXPIRY} AS points
              FROM lots l WHERE l.tenant_id = %(t)s AND l.expires_at > %(since)s AND l.expires_at <= %(until)s
            UNION ALL
            SELECT (e.at AT TIME ZONE %(tz)s)::date, -a.points
              FROM entries e
              JOIN allocations a ON a.tenant_id = e.tenant_id AND a.entry_id = e.id
              JOIN lots l ON l.tenant_id = a.tenant_id AND l.id = a.lot_id
             WHERE e.tenant_id = %(t)s AND e.at >= %(since)s AND e.at < %(until)s AND e.at >= l.expires_at
        ) x GROUP BY day
        """,
        {"t": tenant_id, "since": since, "until": until, "tz": tz},
    )
    return await cur.fetchall()


# What movements dated before a lot ``l`` expired took from it (net of what they put back).
_TAKEN_BEFORE_EXPIRY = (
    "coalesce((SELECT sum(a.points) FROM allocations a JOIN entries e ON e.tenant_id = a.tenant_id"
    " AND e.id = a.entry_id WHERE a.tenant_id = l.tenant_id AND a.lot_id = l.id AND e.at < l.expires_at), 0)"
)


async def outstanding_at(conn: Connection, tenant_id: int, at: datetime) -> int:
    """Points held in lots that had not expired at ``at`` (available or pending): every entry up to
    then, less what expired by then as ``expired_by_day`` counts it (what each lot held when it
    expired, less what was taken from expired lots since, plus what was put back into them)."""
    row = await (
        await conn.execute(
            "SELECT (SELECT coalesce(sum(points), 0) FROM entries WHERE tenant_id = %(t)s AND at < %(at)s)"
            f" - (SELECT coalesce(sum(l.points - {_TAKEN_BEFORE_EXPIRY}), 0) FROM lots l"
            "     WHERE l.tenant_id = %(t)s AND l.expires_at <= %(at)s)"
            " + (SELECT coalesce(sum(a.points), 0) FROM entries e"
            "     JOIN allocations a ON a.tenant_id = e.tenant_id AND a.entry_id = e.id"
            "     JOIN lots l ON l.tenant_id = a.tenant_id AND l.id = a.lot_id"
            "    WHERE e.tenant_id = %(t)s AND e.at < %(at)s AND e.at >= l.expires_at)"
            " AS points",
            {"t": tenant_id, "at": at},
        )
    ).fetchone()
    assert row is not None
    return int(row["points"])


async def outstanding_now(conn: Connection, tenant_id: int, now: datetime) -> dict[str, int]:
    row = await (
        await conn.execute(
            "SELECT coalesce(sum(remaining) FILTER (WHERE available_from <= %(now)s), 0)::bigint AS available,"
            " coalesce(sum(remaining) FILTER (WHERE available_from > %(now)s), 0)::bigint AS pending"
            " FROM lots WHERE tenant_id = %(t)s AND expires_at > %(now)s AND remaining > 0",
            {"t": tenant_id, "now": now},
        )
    ).fetchone()
    assert row is not None
    return {"available": int(row["available"]), "pending": int(row["pending"])}


async def tier_counts(
    conn: Connection, tenant_id: int, thresholds: Sequence[Decimal], since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Members per tier bucket: bucket ``i`` (1-based) is the i-th threshold, 0 below the first.
    What decides it is the money paid in [since, until), net of returns, as at checkout."""
    cur = await conn.execute(
        "SELECT width_bucket(coalesce(p.paid, 0), %(th)s::numeric[]) AS bucket, count(*) AS members"
        " FROM members m LEFT JOIN ("
        "   SELECT member_id, sum(paid_net) AS paid FROM receipts"
        "    WHERE tenant_id = %(t)s AND member_id IS NOT NULL AND at >= %(since)s AND at < %(until)s"
        "    GROUP BY member_id"
        " ) p ON p.member_id = m.id"
        " WHERE m.tenant_id = %(t)s GROUP BY 1 ORDER BY 1",
        {"t": tenant_id, "th": list(thresholds), "since": since, "until": until},
    )
    return await cur.fetchall()


async def campaign_results(
    conn: Connection, tenant_id: int, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Each campaign's reach and cost on the receipts of [since, until) not cancelled, net of what
    returns gave back, from what the checkout recorded per receipt and campaign. Summed per
    (campaign, member) first, so that counting members needs no sort."""
    cur = await conn.execute(
        """
        WITH per_member AS (
            SELECT rc.campaign_id, rc.member_id, count(*) AS receipts,
                   sum(rc.discount - rc.released_discount) AS discount,
                   sum(rc.points - rc.released_points) AS points
              FROM receipt_campaigns rc
              JOIN receipts r ON r.tenant_id = rc.tenant_id AND r.id = rc.receipt_id
             WHERE rc.tenant_id = %(t)s AND r.at >= %(since)s AND r.at < %(until)s AND r.status <> 'cancelled'
             GROUP BY rc.campaign_id, rc.member_id
        )
        SELECT p.campaign_id::text AS id, c.definition->>'name' AS name, sum(p.receipts)::bigint AS receipts,
               count(p.member_id) AS members, coalesce(sum(p.discount), 0) AS discount,
               coalesce(sum(p.points), 0)::bigint AS points
          FROM per_member p LEFT JOIN campaigns c ON c.tenant_id = %(t)s AND c.id = p.campaign_id
         GROUP BY p.campaign_id, c.definition->>'name'
         ORDER BY 5 DESC, 3 DESC, 1
        """,
        {"t": tenant_id, "since": since, "until": until},
    )
    return await cur.fetchall()


# --- members ---------------------------------------------------------------------------------


async def search_members(
    conn: Connection, tenant_id: int, text: str, limit: int, national: tuple[int, str] | None = None
) -> list[dict[str, Any]]:
    """Members whose name or email contains ``text`` (case-insensitive), or whose phone or a card
    contains it as digits; with ``national`` (a country code and digits), also those whose phone
    is of that country and holds the digits after its code."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    digits = "".join(ch for ch in text if ch.isdigit())
    in_country = None if national is None else f"+{national[0]}%{national[1]}%"
    cur = await conn.execute(
        "SELECT m.id::text AS id, m.phone, m.email, m.name, m.city, m.created_at FROM members m"
        " WHERE m.tenant_id = %(t)s AND (m.name ILIKE %(p)s OR m.email ILIKE %(p)s"
        "   OR (%(d)s <> '' AND length(%(d)s) >= 4 AND m.phone LIKE '%%' || %(d)s || '%%')"
        "   OR m.phone LIKE %(c)s"
        "   OR EXISTS (SELECT 1 FROM cards c WHERE c.tenant_id = m.tenant_id AND c.member_id = m.id"
        "              AND c.card ILIKE %(p)s))"
        " ORDER BY m.name NULLS LAST, m.phone LIMIT %(n)s",
        {"t": tenant_id, "p": pattern, "d": digits, "c": in_country, "n": limit},
    )
    return await cur.fetchall()


async def recent_members(conn: Connection, tenant_id: int, limit: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id::text AS id, phone, email, name, city, created_at FROM members WHERE tenant_id = %s"
        " ORDER BY created_at DESC, id LIMIT %s",
        (tenant_id, limit),
    )
    return await cur.fetchall()


async def member_receipts(
    conn: Connection, tenant_id: int, member_id: str, limit: int, offset: int = 0
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id::text AS id, store, number, at, status, tier, amount, discount, points_spent, paid,"
        " paid_net, points_earned FROM receipts WHERE tenant_id = %s AND member_id = %s"
        " ORDER BY at DESC, id LIMIT %s OFFSET %s",
        (tenant_id, member_id, limit, offset),
    )
    return await cur.fetchall()


async def member_returns(
    conn: Connection, tenant_id: int, member_id: str, limit: int, offset: int = 0
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT x.id::text AS id, x.receipt_id::text AS receipt_id, r.store, r.number AS receipt_number,"
        " x.number, coalesce(x.at, x.created_at) AS at, x.refund, x.points_refunded, x.points_reversed,"
        " x.shortfall, x.withhold"
        " FROM receipt_returns x JOIN receipts r ON r.tenant_id = x.tenant_id AND r.id = x.receipt_id"
        " WHERE x.tenant_id = %s AND r.member_id = %s"
        " ORDER BY coalesce(x.at, x.created_at) DESC, x.id LIMIT %s OFFSET %s",
        (tenant_id, member_id, limit, offset),
    )
    return await cur.fetchall()


async def member_counts(conn: Connection, tenant_id: int, member_id: str) -> dict[str, int]:
    """How many receipts and returns a member has, for the pages of their lists."""
    cur = await conn.execute(
        "SELECT (SELECT count(*) FROM receipts WHERE tenant_id = %(t)s AND member_id = %(m)s) AS receipts,"
        " (SELECT count(*) FROM receipt_returns x JOIN receipts r ON r.tenant_id = x.tenant_id"
        "  AND r.id = x.receipt_id WHERE x.tenant_id = %(t)s AND r.member_id = %(m)s) AS returns",
        {"t": tenant_id, "m": member_id},
    )
    row = await cur.fetchone()
    assert row is not None
    return {"receipts": int(row["receipts"]), "returns": int(row["returns"])}


async def receipt_returns(conn: Connection, tenant_id: int, receipt_id: str) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT number, coalesce(at, created_at) AS at, refund, points_refunded, points_reversed, shortfall,"
        " withhold, lines FROM receipt_returns WHERE tenant_id = %s AND receipt_id = %s"
        " ORDER BY coalesce(at, created_at)",
        (tenant_id, receipt_id),
    )
    return await cur.fetchall()


# --- campaign editor: catalog matches and the what-if preview -----------------------------------


async def products_after(
    conn: Connection, tenant_id: int, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """The catalog in SKU order, one page at a time (keyset), for scanning with a condition."""
    cur = await conn.execute(
        "SELECT sku, name, attributes FROM products WHERE tenant_id = %s AND (%s::text IS NULL OR sku > %s)"
        " ORDER BY sku LIMIT %s",
        (tenant_id, after, after, limit),
    )
    return await cur.fetchall()


async def attribute_names_no_product_has(conn: Connection, tenant_id: int, names: list[str]) -> list[str]:
    """Which of ``names`` no product of the catalog has (for a scan that ran out of time before
    it saw the whole catalog: a misspelled name is then looked for once, to the end)."""
    cur = await conn.execute(
        "SELECT name FROM unnest(%s::text[]) AS name WHERE NOT EXISTS"
        " (SELECT 1 FROM products WHERE tenant_id = %s AND attributes ? name) ORDER BY name",
        (names, tenant_id),
    )
    return [row["name"] for row in await cur.fetchall()]


async def product_count(conn: Connection, tenant_id: int) -> int:
    row = await (
        await conn.execute("SELECT count(*) AS n FROM products WHERE tenant_id = %s", (tenant_id,))
    ).fetchone()
    assert row is not None
    return int(row["n"])


async def receipt_heads(
    conn: Connection, tenant_id: int, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Receipts of [since, until) that were not cancelled, with their store and member facts."""
    cur = await conn.execute(
        "SELECT r.id::text AS id, r.at, r.store, s.city, s.country, s.timezone, r.member_id::text AS member_id,"
        " r.tier, m.birthday"
        " FROM receipts r JOIN stores s ON s.tenant_id = r.tenant_id AND s.code = r.store"
        " LEFT JOIN members m ON m.tenant_id = r.tenant_id AND m.id = r.member_id"
        " WHERE r.tenant_id = %s AND r.at >= %s AND r.at < %s AND r.status <> 'cancelled' ORDER BY r.at",
        (tenant_id, since, until),
    )
    return await cur.fetchall()


async def receipt_lines(
    conn: Connection, tenant_id: int, receipt_ids: list[str]
) -> list[tuple[str, int, str, int, Decimal]]:
    """The lines of these receipts as (receipt id, line, sku, quantity, price), in no set order.
    Plain tuples: a month of a busy program is over a hundred thousand lines."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            "SELECT receipt_id::text, line, sku, quantity, price FROM receipt_lines"
            " WHERE tenant_id = %s AND receipt_id = ANY(%s::uuid[])",
            (tenant_id, receipt_ids),
        )
        return cast(list[tuple[str, int, str, int, Decimal]], await cur.fetchall())


async def product_attributes(conn: Connection, tenant_id: int, skus: list[str]) -> dict[str, dict[str, Any]]:
    """The catalog attributes of these SKUs (those in the catalog)."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            "SELECT sku, attributes FROM products WHERE tenant_id = %s AND sku = ANY(%s::text[])",
            (tenant_id, skus),
        )
        return {str(sku): dict(attributes) for sku, attributes in await cur.fetchall()}
