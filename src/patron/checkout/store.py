"""SQL for receipts, their lines and returns."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from patron.checkout.engine import LineResult, Outcome
from patron.db.pool import Connection


async def store_info(conn: Connection, tenant_id: int, code: str) -> dict[str, Any] | None:
    """A store's time zone, city and country; None if there is no such store."""
    cur = await conn.execute(
        "SELECT timezone, city, country FROM stores WHERE tenant_id = %s AND code = %s", (tenant_id, code)
    )
    return await cur.fetchone()


async def paid_in_window(
    conn: Connection, tenant_id: int, member_id: str, since: datetime, until: datetime
) -> Decimal:
    """Money the member paid in [since, until), net of returns: what decides the tier."""
    row = await (
        await conn.execute(
            "SELECT coalesce(sum(paid_net), 0) AS paid FROM receipts"
            " WHERE tenant_id = %s AND member_id = %s AND at >= %s AND at < %s",
            (tenant_id, member_id, since, until),
        )
    ).fetchone()
    assert row is not None
    return Decimal(row["paid"])


async def receipt_by_number(
    conn: Connection, tenant_id: int, store: str, number: str
) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT id::text AS id, body_hash, result FROM receipts WHERE tenant_id = %s AND store = %s AND number = %s",
        (tenant_id, store, number),
    )
    return await cur.fetchone()


async def insert_receipt(
    conn: Connection,
    tenant_id: int,
    *,
    receipt_id: str,
    store: str,
    number: str,
    member_id: str | None,
    at: datetime,
    body_hash: bytes,
    tier: str | None,
    outcome: Outcome,
    result: dict[str, Any],
) -> bool:
    """Inserts the receipt and its lines; False when (store, number) exists already."""
    row = await (
        await conn.execute(
            "INSERT INTO receipts (tenant_id, id, store, number, member_id, at, body_hash, tier, amount, discount,"
            " points_spent, paid, paid_net, points_earned, result)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (tenant_id, store, number) DO NOTHING RETURNING 1 AS inserted",
            (
                tenant_id,
                receipt_id,
                store,
                number,
                member_id,
                at,
                body_hash,
                tier,
                outcome.amount,
                outcome.discount,
                outcome.points_spent,
                outcome.paid,
                outcome.paid,
                outcome.points_earned,
                Jsonb(result),
            ),
        )
    ).fetchone()
    if row is None:
        return False
    lines = outcome.lines
    await conn.execute(
        "INSERT INTO receipt_lines (tenant_id, receipt_id, line, sku, quantity, price, amount, discount,"
        " points_spent, paid, points_earned, campaigns)"
        " SELECT %s, %s, l, s, q, a / q, a, d, ps, p, pe, c FROM unnest(%s::int[], %s::text[], %s::int[],"
        " %s::numeric[], %s::numeric[], %s::bigint[], %s::numeric[], %s::bigint[], %s::jsonb[])"
        " AS t(l, s, q, a, d, ps, p, pe, c)",
        (
            tenant_id,
            receipt_id,
            [line.line for line in lines],
            [line.sku for line in lines],
            [line.quantity for line in lines],
            [line.amount for line in lines],
            [line.discount for line in lines],
            [line.points_spent for line in lines],
            [line.paid for line in lines],
            [line.points_earned for line in lines],
            [Jsonb(_line_campaigns(line)) for line in lines],
        ),
    )
    return True


def _line_campaigns(line: LineResult) -> list[dict[str, Any]]:
    """What each campaign gave on a line, so that returns can give exactly that back."""
    return [
        {
            "id": cid,
            "discount": str(line.campaign_discounts.get(cid, Decimal(0))),
            "points": line.campaign_points.get(cid, 0),
        }
        for cid in line.campaigns
    ]


async def receipt(
    conn: Connection, tenant_id: int, receipt_id: str, *, lock: bool = False
) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT id::text AS id, member_id::text AS member_id, status, coalesce(current, result) AS result, at"
        " FROM receipts"
        " WHERE tenant_id = %s AND id = %s" + (" FOR UPDATE" if lock else ""),
        (tenant_id, receipt_id),
    )
    return await cur.fetchone()


async def receipt_lines(conn: Connection, tenant_id: int, receipt_id: str) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT line, quantity, returned, paid, points_spent, points_earned, campaigns FROM receipt_lines"
        " WHERE tenant_id = %s AND receipt_id = %s ORDER BY line",
        (tenant_id, receipt_id),
    )
    return await cur.fetchall()


async def unrefunded_spend(
    conn: Connection, tenant_id: int, receipt_id: str
) -> dict[int, list[tuple[int, int]]]:
    """Per line, the points still out of each lot it spent from (spends minus refunds)."""
    cur = await conn.execute(
        "SELECT a.line, a.lot_id, sum(a.points)::bigint AS points FROM allocations a"
        " JOIN entries e ON e.tenant_id = a.tenant_id AND e.id = a.entry_id"
        " WHERE a.tenant_id = %s AND a.receipt_id = %s AND e.kind IN ('spend', 'refund')"
        " GROUP BY a.line, a.lot_id HAVING sum(a.points) > 0 ORDER BY a.line, a.lot_id",
        (tenant_id, receipt_id),
    )
    result: dict[int, list[tuple[int, int]]] = {}
    for row in await cur.fetchall():
        result.setdefault(row["line"], []).append((row["lot_id"], int(row["points"])))
    return result


async def return_by_number(
    conn: Connection, tenant_id: int, receipt_id: str, number: str
) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT body_hash, result FROM receipt_returns WHERE tenant_id = %s AND receipt_id = %s AND number = %s",
        (tenant_id, receipt_id, number),
    )
    return await cur.fetchone()


async def record_return(
    conn: Connection,
    tenant_id: int,
    receipt_id: str,
    *,
    number: str,
    body_hash: bytes,
    returned: dict[int, int],
    paid: Decimal,
    status: str,
    receipt_result: dict[str, Any],
    result: dict[str, Any],
) -> None:
    """The return's row, the lines' returned units, and the receipt's new status and result."""
    await conn.execute(
        "UPDATE receipt_lines rl SET returned = rl.returned + t.n FROM unnest(%s::int[], %s::int[]) AS t(l, n)"
        " WHERE rl.tenant_id = %s AND rl.receipt_id = %s AND rl.line = t.l",
        (list(returned), list(returned.values()), tenant_id, receipt_id),
    )
    await conn.execute(
        "UPDATE receipts SET status = %s, paid_net = paid_net - %s, current = %s, updated_at = now()"
        " WHERE tenant_id = %s AND id = %s",
        (status, paid, Jsonb(receipt_result), tenant_id, receipt_id),
    )
    await conn.execute(
        "INSERT INTO receipt_returns (tenant_id, receipt_id, number, body_hash, refund, paid, points_refunded,"
        " points_reversed, shortfall, withhold, lines, result)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            tenant_id,
            receipt_id,
            number,
            body_hash,
            Decimal(result["refund"]),
            paid,
            result["points_refunded"],
            result["points_reversed"],
            result["shortfall"],
            Decimal(result["withhold"]),
            Jsonb({str(k): v for k, v in returned.items()}),
            Jsonb(result),
        ),
    )
