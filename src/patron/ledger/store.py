"""SQL for the ledger: members' locks, entries, lots and allocations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from psycopg.types.json import Jsonb

from patron.db.pool import Connection
from patron.errors import NotFound


@dataclass(frozen=True, slots=True)
class LotRow:
    id: int
    remaining: int
    available_from: datetime
    expires_at: datetime
    spend_condition: str | None
    kind: str
    receipt_id: str | None


@dataclass(frozen=True, slots=True)
class AllocationRow:
    entry_id: int
    lot_id: int
    points: int
    receipt_id: str | None = None
    line: int | None = None


async def lock_member(conn: Connection, tenant_id: int, member_id: str, *, lock: bool = True) -> int:
    """Serializes every change of one member's points; returns the member's debt.

    With ``lock=False`` it only reads the debt (for a quote, which changes nothing)."""
    row = await (
        await conn.execute(
            "SELECT debt FROM members WHERE tenant_id = %s AND id = %s" + (" FOR UPDATE" if lock else ""),
            (tenant_id, member_id),
        )
    ).fetchone()
    if row is None:
        raise NotFound("no such member", code="member_not_found")
    return cast(int, row["debt"])


async def add_debt(conn: Connection, tenant_id: int, member_id: str, change: int) -> None:
    await conn.execute(
        "UPDATE members SET debt = debt + %s WHERE tenant_id = %s AND id = %s",
        (change, tenant_id, member_id),
    )


async def insert_entry(
    conn: Connection,
    tenant_id: int,
    member_id: str,
    *,
    kind: str,
    points: int,
    at: datetime,
    debt: int = 0,
    receipt_id: str | None = None,
    operation: str | None = None,
    key: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    row = await (
        await conn.execute(
            "INSERT INTO entries (tenant_id, member_id, kind, points, debt, at, receipt_id, operation,"
            " key, reason, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                tenant_id,
                member_id,
                kind,
                points,
                debt,
                at,
                receipt_id,
                operation,
                key,
                reason,
                Jsonb(data) if data is not None else None,
            ),
        )
    ).fetchone()
    assert row is not None
    return cast(int, row["id"])


async def insert_lot(
    conn: Connection,
    tenant_id: int,
    member_id: str,
    *,
    entry_id: int,
    kind: str,
    points: int,
    available_from: datetime,
    expires_at: datetime,
    spend_condition: str | None = None,
    source: dict[str, Any] | None = None,
) -> int:
    row = await (
        await conn.execute(
            "INSERT INTO lots (tenant_id, member_id, entry_id, kind, points, available_from, expires_at,"
            " spend_condition, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                tenant_id,
                member_id,
                entry_id,
                kind,
                points,
                available_from,
                expires_at,
                spend_condition,
                Jsonb(source or {}),
            ),
        )
    ).fetchone()
    assert row is not None
    return cast(int, row["id"])


async def insert_credit(
    conn: Connection,
    tenant_id: int,
    member_id: str,
    *,
    kind: str,
    points: int,
    at: datetime,
    available_from: datetime,
    expires_at: datetime,
    spend_condition: str | None = None,
    source: dict[str, Any] | None = None,
    receipt_id: str | None = None,
    operation: str | None = None,
    key: str | None = None,
    reason: str | None = None,
    returning: bool = True,
) -> tuple[int, int]:
    """A crediting entry and its lot in one statement; returns (entry id, lot id), or (0, 0)
    without waiting for the answer when ``returning`` is false (so that it can be pipelined)."""
    cur = await conn.execute(
        "WITH e AS (INSERT INTO entries (tenant_id, member_id, kind, points, at, receipt_id, operation, key,"
        " reason) VALUES (%(t)s, %(m)s, %(kind)s, %(p)s, %(at)s, %(r)s, %(op)s, %(key)s, %(reason)s)"
        " RETURNING id)"
        " INSERT INTO lots (tenant_id, member_id, entry_id, kind, points, available_from, expires_at,"
        " spend_condition, source) SELECT %(t)s, %(m)s, e.id, %(kind)s, %(p)s, %(af)s, %(ex)s, %(sc)s, %(src)s"
        " FROM e RETURNING entry_id, id",
        {
            "t": tenant_id,
            "m": member_id,
            "kind": kind,
            "p": points,
            "at": at,
            "r": receipt_id,
            "op": operation,
            "key": key,
            "reason": reason,
            "af": available_from,
            "ex": expires_at,
            "sc": spend_condition,
            "src": Jsonb(source or {}),
        },
    )
    if not returning:
        return 0, 0
    row = await cur.fetchone()
    assert row is not None
    return int(row["entry_id"]), int(row["id"])


async def insert_debit(
    conn: Connection,
    tenant_id: int,
    member_id: str,
    *,
    kind: str,
    points: int,
    at: datetime,
    allocations: Sequence[AllocationRow],
    debt: int = 0,
    receipt_id: str | None = None,
    operation: str | None = None,
    key: str | None = None,
    reason: str | None = None,
) -> None:
    """An entry that moves points between existing lots, with its allocations, in one statement
    (``entry_id`` of the rows is ignored: they belong to the new entry). Nothing is read back, so
    it can be pipelined."""
    await conn.execute(
        "WITH e AS (INSERT INTO entries (tenant_id, member_id, kind, points, debt, at, receipt_id, operation, key,"
        " reason) VALUES (%(t)s, %(m)s, %(kind)s, %(p)s, %(debt)s, %(at)s, %(r)s, %(op)s, %(key)s, %(reason)s)"
        " RETURNING id),"
        " a AS (INSERT INTO allocations (tenant_id, member_id, entry_id, lot_id, points, receipt_id, line)"
        " SELECT %(t)s, %(m)s, e.id, x.l, x.p, x.r, x.n FROM e,"
        " jsonb_to_recordset(%(rows)s) AS x(l bigint, p bigint, r uuid, n int))"
        " SELECT 1",
        {
            "t": tenant_id,
            "m": member_id,
            "kind": kind,
            "p": points,
            "debt": debt,
            "at": at,
            "r": receipt_id,
            "op": operation,
            "key": key,
            "reason": reason,
            "rows": Jsonb(
                [{"l": a.lot_id, "p": a.points, "r": a.receipt_id, "n": a.line} for a in allocations]
            ),
        },
    )


async def insert_allocations(
    conn: Connection, tenant_id: int, member_id: str, rows: Sequence[AllocationRow]
) -> None:
    """All allocations of one operation in one statement (the lots trigger then runs once)."""
    if not rows:
        return
    await conn.execute(
        "INSERT INTO allocations (tenant_id, member_id, entry_id, lot_id, points, receipt_id, line) "
        "SELECT %s, %s, e, l, p, r, n FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::uuid[],"
        " %s::int[]) AS t(e, l, p, r, n)",
        (
            tenant_id,
            member_id,
            [r.entry_id for r in rows],
            [r.lot_id for r in rows],
            [r.points for r in rows],
            [r.receipt_id for r in rows],
            [r.line for r in rows],
        ),
    )


async def receipts_owing_debt(conn: Connection, tenant_id: int, member_id: str) -> list[tuple[str, int]]:
    """The member's receipts whose returns recorded a debt not yet paid, oldest first."""
    cur = await conn.execute(
        "SELECT id::text AS id, shortfall_debt FROM receipts"
        " WHERE tenant_id = %s AND member_id = %s AND shortfall_debt > 0 ORDER BY at, id",
        (tenant_id, member_id),
    )
    return [(row["id"], int(row["shortfall_debt"])) for row in await cur.fetchall()]


async def pay_receipts_debt(conn: Connection, tenant_id: int, paid: Sequence[tuple[str, int]]) -> None:
    """Lowers the debt recorded on these receipts by what was just paid of it."""
    if paid:
        await conn.execute(
            "UPDATE receipts r SET shortfall_debt = r.shortfall_debt - p.points"
            " FROM unnest(%s::uuid[], %s::bigint[]) AS p(id, points) WHERE r.tenant_id = %s AND r.id = p.id",
            ([receipt for receipt, _ in paid], [points for _, points in paid], tenant_id),
        )


async def _live_lots(
    conn: Connection, tenant_id: int, member_id: str, when: str, at: datetime
) -> list[LotRow]:
    """The member's lots with points left that ``when`` (a condition on ``%(at)s``) selects."""
    cur = await conn.execute(
        "SELECT id, remaining, available_from, expires_at, spend_condition, kind,"
        " source->>'receipt' AS receipt_id FROM lots"
        f" WHERE tenant_id = %(t)s AND member_id = %(m)s AND remaining > 0 AND {when}",
        {"t": tenant_id, "m": member_id, "at": at},
    )
    return [LotRow(**row) for row in await cur.fetchall()]


async def spendable_lots(conn: Connection, tenant_id: int, member_id: str, at: datetime) -> list[LotRow]:
    """Lots with points left that count at ``at``."""
    return await _live_lots(
        conn, tenant_id, member_id, "expires_at > %(at)s AND available_from <= %(at)s", at
    )


async def pending_lots(conn: Connection, tenant_id: int, member_id: str, at: datetime) -> list[LotRow]:
    """Lots with points left that are not available yet at ``at`` (earned, awaiting their day)."""
    return await _live_lots(
        conn, tenant_id, member_id, "available_from > %(at)s AND expires_at > available_from", at
    )


async def adjustment_by_key(
    conn: Connection, tenant_id: int, member_id: str, key: str
) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT request, result FROM adjustments WHERE tenant_id = %s AND member_id = %s AND key = %s",
        (tenant_id, member_id, key),
    )
    return await cur.fetchone()


async def recent_same_adjustment(
    conn: Connection, tenant_id: int, member_id: str, key: str, points: int, reason: str, within: timedelta
) -> datetime | None:
    """When an adjustment of the same points and reason was last made for the member under
    another key, if within ``within``: a form sent again after the browser's Back has a new key."""
    cur = await conn.execute(
        "SELECT max(created_at) AS at FROM adjustments WHERE tenant_id = %s AND member_id = %s AND key <> %s"
        " AND request->>'points' = %s AND request->>'reason' = %s AND created_at > now() - %s",
        (tenant_id, member_id, key, str(points), reason, within),
    )
    row = await cur.fetchone()
    return row["at"] if row else None


async def insert_adjustment(
    conn: Connection,
    tenant_id: int,
    member_id: str,
    key: str,
    entry_id: int,
    request: dict[str, Any],
    result: dict[str, Any],
) -> None:
    """Keeps an adjustment's first answer, so that a repeat of its key answers the same."""
    await conn.execute(
        "INSERT INTO adjustments (tenant_id, member_id, key, entry_id, request, result)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (tenant_id, member_id, key, entry_id, Jsonb(request), Jsonb(result)),
    )


async def balance(
    conn: Connection, tenant_id: int, member_id: str, at: datetime, now: datetime, timezone: str
) -> dict[str, Any]:
    """Available, pending and expiring points as they stood (or will stand) at ``at``.

    For a moment in the past, the lots and their remainders are rebuilt from the movements that
    happened by then: by each entry's ``at`` (the receipt's own time, as checkout counts it), not
    by when it was recorded, so that a till's receipt sent late counts at its own time, as a quote
    for that moment would count it. The debt too is as it stood then. A lot expires on a local
    date of the zone that bounded it when it was credited (its source's ``timezone``: the store's
    where it was earned, contract 2, or the program's for a store without one; a birthday gift's is
    the member's), so that its date stays when a zone changes later; a lot credited before sources
    kept their zone, on a date of its receipt's store, else of ``timezone``, the program's."""
    past = at < now
    # Movements recorded out of their order in time (a receipt an offline till sent after a later
    # receipt's cancel had put points back) can rebuild a lot beyond what it ever held, so a past
    # lot is kept within 0 and its points, and a past debt at 0 or more.
    remaining = (
        "greatest(0, least(l.points, l.points - coalesce((SELECT sum(a.points) FROM allocations a"
        " JOIN entries e ON e.tenant_id = a.tenant_id AND e.id = a.entry_id WHERE a.tenant_id = l.tenant_id"
        " AND a.lot_id = l.id AND e.at <= %(at)s), 0)))"
        if past
        else "l.remaining"
    )
    created = (
        "AND (SELECT e.at FROM entries e WHERE e.tenant_id = l.tenant_id AND e.id = l.entry_id) <= %(at)s"
        if past
        else ""
    )
    cur = await conn.execute(
        f"""
        WITH lot AS (
            SELECT l.available_from, l.expires_at, {remaining} AS left_,
                   coalesce(l.source ->> 'timezone', s.timezone, %(tz)s) AS zone
              FROM lots l
              LEFT JOIN receipts r ON r.tenant_id = l.tenant_id AND r.id = (l.source ->> 'receipt')::uuid
              LEFT JOIN stores s ON s.tenant_id = r.tenant_id AND s.code = r.store
             WHERE l.tenant_id = %(t)s AND l.member_id = %(m)s AND l.expires_at > %(at)s {created}
        )
        SELECT 'total' AS what, NULL::date AS day,
               coalesce(sum(left_) FILTER (WHERE available_from <= %(at)s), 0)::bigint AS available,
               coalesce(sum(left_) FILTER (WHERE available_from > %(at)s), 0)::bigint AS pending
          FROM lot
        UNION ALL
        SELECT 'expiring', (expires_at AT TIME ZONE zone)::date, sum(left_)::bigint, 0
          FROM lot WHERE left_ > 0 GROUP BY 2
         ORDER BY what DESC, day
        """,
        {"t": tenant_id, "m": member_id, "at": at, "tz": timezone},
    )
    rows = await cur.fetchall()
    # the recorded debt is the sum of the member's debt entries; for a past moment, of those that
    # happened by then (the same clock as the movements that rebuild the lots above)
    debt_then = (
        "greatest(0, (SELECT coalesce(sum(e.debt), 0) FROM entries e WHERE e.tenant_id = m.tenant_id"
        " AND e.member_id = m.id AND e.at <= %(at)s))"
        if past
        else "m.debt"
    )
    debt_row = await (
        await conn.execute(
            f"SELECT {debt_then} AS debt FROM members m WHERE m.tenant_id = %(t)s AND m.id = %(m)s",
            {"t": tenant_id, "m": member_id, "at": at},
        )
    ).fetchone()
    if debt_row is None:
        raise NotFound("no such member", code="member_not_found")
    totals = rows[0]
    return {
        "available": int(totals["available"]),
        "pending": int(totals["pending"]),
        "debt": int(debt_row["debt"]),
        "expiring": [{"date": r["day"].isoformat(), "points": int(r["available"])} for r in rows[1:]],
    }


async def lots(conn: Connection, tenant_id: int, member_id: str) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, points, remaining, kind, available_from, expires_at, spend_condition, source, created_at"
        " FROM lots WHERE tenant_id = %s AND member_id = %s ORDER BY expires_at, id",
        (tenant_id, member_id),
    )
    return await cur.fetchall()


async def history(
    conn: Connection, tenant_id: int, member_id: str, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """Newest first by when each entry counts (``at``: a receipt an offline till sent late, or
    imported history, takes its place in time), then by id; ``before`` is the last entry's id of
    the page before. A member's entries are few enough to sort without an index of their own."""
    cur = await conn.execute(
        "SELECT id, kind, points, debt, at, created_at, receipt_id::text AS receipt_id, operation, key, reason"
        " FROM entries e WHERE tenant_id = %(t)s AND member_id = %(m)s AND (%(b)s::bigint IS NULL OR (at, id) <"
        " (SELECT c.at, c.id FROM entries c WHERE c.tenant_id = %(t)s AND c.member_id = %(m)s AND c.id = %(b)s))"
        " ORDER BY at DESC, id DESC LIMIT %(n)s",
        {"t": tenant_id, "m": member_id, "b": before, "n": limit},
    )
    return await cur.fetchall()


async def has_entry(conn: Connection, tenant_id: int, member_id: str, entry_id: int) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM entries WHERE tenant_id = %s AND member_id = %s AND id = %s",
        (tenant_id, member_id, entry_id),
    )
    return await cur.fetchone() is not None


async def receipt_lots(conn: Connection, tenant_id: int, member_id: str, receipt_id: str) -> list[LotRow]:
    """Lots a receipt credited that still hold points (pending or not)."""
    cur = await conn.execute(
        "SELECT id, remaining, available_from, expires_at, spend_condition, kind,"
        " source->>'receipt' AS receipt_id FROM lots"
        " WHERE tenant_id = %s AND member_id = %s AND source->>'receipt' = %s AND remaining > 0",
        (tenant_id, member_id, receipt_id),
    )
    return [LotRow(**row) for row in await cur.fetchall()]
