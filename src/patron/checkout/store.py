"""SQL for receipts, their lines and returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from patron.campaigns.store import USAGE, USAGE_COLUMNS
from patron.checkout.engine import LineResult, Outcome
from patron.checkout.returns import Shortfall
from patron.db.pool import Connection
from patron.errors import Conflict


async def receipt_by_number(
    conn: Connection, tenant_id: int, store: str, number: str
) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT id::text AS id, body_hash, result FROM receipts WHERE tenant_id = %s AND store = %s AND number = %s",
        (tenant_id, store, number),
    )
    return await cur.fetchone()


class ReceiptNumberTaken(Exception):
    """The store already has a receipt with this number."""


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
) -> None:
    """The receipt and its lines in one statement; ReceiptNumberTaken if (store, number) exists.
    The lines go as one JSON parameter: adapting nine arrays cost psycopg more than the whole
    rest of the statement."""
    lines = outcome.lines
    try:
        cur = await conn.execute(
            "WITH r AS (INSERT INTO receipts (tenant_id, id, store, number, member_id, at, body_hash, tier, amount,"
            " discount, points_spent, paid, paid_net, points_earned, result)"
            " VALUES (%(t)s, %(id)s, %(store)s, %(number)s, %(member)s, %(at)s, %(hash)s, %(tier)s, %(amount)s,"
            " %(discount)s, %(spent)s, %(paid)s, %(paid)s, %(earned)s, %(result)s) RETURNING id)"
            " INSERT INTO receipt_lines (tenant_id, receipt_id, line, sku, quantity, price, amount, discount,"
            " points_spent, paid, points_earned, campaigns)"
            " SELECT %(t)s, r.id, l, s, q, a / q, a, d, ps, p, pe, c FROM r, jsonb_to_recordset(%(lines)s)"
            " AS t(l int, s text, q int, a numeric, d numeric, ps bigint, p numeric, pe bigint, c jsonb)"
            " RETURNING 1",
            {
                "t": tenant_id,
                "id": receipt_id,
                "store": store,
                "number": number,
                "member": member_id,
                "at": at,
                "hash": body_hash,
                "tier": tier,
                "amount": outcome.amount,
                "discount": outcome.discount,
                "spent": outcome.points_spent,
                "paid": outcome.paid,
                "earned": outcome.points_earned,
                "result": Jsonb(result),
                "lines": Jsonb([_line_row(line) for line in lines]),
            },
        )
        await cur.fetchone()
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "receipts_tenant_id_store_number_key":
            raise ReceiptNumberTaken from exc
        raise


def _line_row(line: LineResult) -> dict[str, Any]:
    return {
        "l": line.line,
        "s": line.sku,
        "q": line.quantity,
        "a": str(line.amount),
        "d": str(line.discount),
        "ps": line.points_spent,
        "p": str(line.paid),
        "pe": line.points_earned,
        "c": _line_campaigns(line),
    }


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


async def receipt_member(conn: Connection, tenant_id: int, receipt_id: str) -> str | None:
    """The member of a receipt (None for an anonymous one, or no such receipt): a return's turn
    is taken under its member before its transaction (``Database.transaction``'s ``serial``)."""
    cur = await conn.execute(
        "SELECT member_id::text AS member_id FROM receipts WHERE tenant_id = %s AND id = %s",
        (tenant_id, receipt_id),
    )
    row = await cur.fetchone()
    return None if row is None else row["member_id"]


async def imported_receipt(
    conn: Connection, tenant_id: int, receipt_id: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """An imported receipt's figures and its lines', from which its answer is built."""
    head = await (
        await conn.execute(
            "SELECT id::text AS id, status, store, number, member_id::text AS member_id, tier, at, amount,"
            " discount, points_spent, paid, points_earned FROM receipts WHERE tenant_id = %s AND id = %s",
            (tenant_id, receipt_id),
        )
    ).fetchone()
    cur = await conn.execute(
        "SELECT line, sku, quantity, amount, discount, points_spent, paid, points_earned, returned"
        " FROM receipt_lines WHERE tenant_id = %s AND receipt_id = %s ORDER BY line",
        (tenant_id, receipt_id),
    )
    return head, await cur.fetchall()


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
    at: datetime,
    number: str,
    body_hash: bytes,
    returned: dict[int, int],
    paid: Decimal,
    status: str,
    receipt_result: dict[str, Any],
    result: dict[str, Any],
) -> None:
    """The return's row (``at``: when it counts), the lines' returned units, and the receipt's
    new status and result.

    The receipt's money paid, net of returns (its tier window, the dashboards), goes down by
    the refund: money kept back under ``withhold`` stays paid."""
    await conn.execute(
        "UPDATE receipt_lines rl SET returned = rl.returned + t.n FROM unnest(%s::int[], %s::int[]) AS t(l, n)"
        " WHERE rl.tenant_id = %s AND rl.receipt_id = %s AND rl.line = t.l",
        (list(returned), list(returned.values()), tenant_id, receipt_id),
    )
    await conn.execute(
        "UPDATE receipts SET status = %s, paid_net = paid_net - %s, current = %s, updated_at = now()"
        " WHERE tenant_id = %s AND id = %s",
        (status, Decimal(result["refund"]), Jsonb(receipt_result), tenant_id, receipt_id),
    )
    await conn.execute(
        "INSERT INTO receipt_returns (tenant_id, receipt_id, at, number, body_hash, refund, paid,"
        " points_refunded, points_reversed, shortfall, withhold, lines, result)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            tenant_id,
            receipt_id,
            at,
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


_MEMBER_BY = {
    "id": "SELECT m.id, m.debt, m.birthday FROM members m WHERE m.tenant_id = %(t)s AND m.id = %(v)s::uuid",
    "phone": "SELECT m.id, m.debt, m.birthday FROM members m WHERE m.tenant_id = %(t)s AND m.phone = %(v)s",
    "card": "SELECT m.id, m.debt, m.birthday FROM cards c JOIN members m"
    " ON m.tenant_id = c.tenant_id AND m.id = c.member_id WHERE c.tenant_id = %(t)s AND c.card = %(v)s",
    None: "SELECT NULL::uuid AS id, 0::bigint AS debt, NULL::date AS birthday WHERE false",
}


_STORE_AND_PRODUCTS = (
    "(SELECT json_build_object('timezone', timezone, 'city', city, 'country', country)"
    "   FROM stores WHERE tenant_id = %(t)s AND code = %(s)s) AS store,"
    " (SELECT coalesce(json_object_agg(sku, attributes), '{}'::json) FROM products"
    "   WHERE tenant_id = %(t)s AND sku = ANY(%(skus)s)) AS products"
)
# What the member paid in the tier window [since, at), net of the returns made by ``at``, and the
# lots spendable at ``at``; the member's id is ``m.id`` in the statement around these. A receipt's
# paid_net is net of every return so far, so for a moment in the past (an offline till's receipt,
# a quote for then) the refunds of returns made after it are added back: a return that came later
# does not lower the tier the member had then. ``late`` says whether ``at`` is past; for a receipt
# of now (or of less than ``LATE`` ago: a till's own clock) it is not run; a return made in that
# last minute counts as made before.
_PAID = (
    "((SELECT coalesce(sum(paid_net), 0) FROM receipts WHERE tenant_id = %(t)s AND member_id = m.id"
    "   AND at >= %(since)s AND at < %(at)s)"
    " + CASE WHEN %(late)s THEN"
    "  (SELECT coalesce(sum(x.refund), 0) FROM receipts r JOIN receipt_returns x"
    "     ON x.tenant_id = r.tenant_id AND x.receipt_id = r.id AND coalesce(x.at, x.created_at) > %(at)s"
    "   WHERE r.tenant_id = %(t)s AND r.member_id = m.id AND r.at >= %(since)s AND r.at < %(at)s)"
    "  ELSE 0 END) AS paid"
)
_LOTS = (
    "SELECT array_agg(id) AS ids, array_agg(remaining) AS remaining, array_agg(expires_at) AS expires,"
    " array_agg(spend_condition) AS conditions FROM lots WHERE tenant_id = %(t)s AND member_id = m.id"
    " AND expires_at > %(at)s AND available_from <= %(at)s AND remaining > 0"
)

Where = dict[str, Any] | None
Attributes = dict[str, dict[str, Any]]
Person = dict[str, Any] | None
LotRow = tuple[int, int, datetime, str | None]
Usage = dict[str, dict[str, Any]]  # campaign id -> its row of ``campaigns.store.USAGE``


def _person(row: dict[str, Any]) -> Person:
    if row["member_id"] is None:
        return None
    return {"id": row["member_id"], "debt": row["debt"], "birthday": row["birthday"]}


def _paid_and_lots(row: dict[str, Any]) -> tuple[Decimal, list[LotRow]]:
    paid = Decimal(row["paid"] or 0)
    if not row["ids"]:
        return paid, []
    return paid, list(zip(row["ids"], row["remaining"], row["expires"], row["conditions"], strict=True))


LATE = timedelta(minutes=1)


def _context_params(
    tenant_id: int,
    store: str,
    skus: list[str],
    member_value: str | None,
    since: datetime,
    at: datetime,
    now: datetime,
) -> dict[str, Any]:
    """The parameters shared by the statements of ``quote_context`` and ``confirm_context``."""
    late = at < now - LATE  # see _PAID
    return {
        "t": tenant_id,
        "s": store,
        "skus": skus,
        "v": member_value,
        "since": since,
        "at": at,
        "late": late,
    }


# The usage of the limited campaigns, one array per column, for the member ``m``
_USAGE_ARRAYS = (
    "SELECT array_agg(x.id) AS usage_ids,"
    + ", ".join(f" array_agg(x.{column}) AS usage_{column}" for column in USAGE_COLUMNS)
    + f" FROM ({USAGE.format(member='m.id')}) x"
)


async def quote_context(
    conn: Connection,
    tenant_id: int,
    store: str,
    skus: list[str],
    member: tuple[str, str] | None,
    since: datetime,
    at: datetime,
    now: datetime,
    limited: list[str],
) -> tuple[Where, Attributes, Person, tuple[Decimal, list[LotRow]], Usage]:
    """Everything a basket is evaluated against, in one statement (a quote locks nothing): the
    store (time zone, city, country), the catalog attributes of its SKUs, the member it names (by
    id, E.164 phone or card), what they paid in the tier window [since, at), the lots they may
    spend at ``at``, and the usage of the ``limited`` campaigns (uses, budgets; the member's uses)."""
    by, value = member if member else (None, None)
    # an anonymous basket has no tier window and no lots to read (their look-ups by a member that
    # is NULL still read the program's receipts in the window, for nothing)
    ledger = f"{_PAID}, l.*" if by else "0 AS paid, NULL::bigint[] AS ids"
    lots = f" LEFT JOIN LATERAL ({_LOTS}) l ON true" if by else ""
    sql = (
        f"WITH m AS ({_MEMBER_BY[by]})"
        f" SELECT {_STORE_AND_PRODUCTS}, m.id::text AS member_id, m.debt, m.birthday, {ledger}, u.*"
        f" FROM (SELECT 1) one LEFT JOIN m ON true{lots}"
        f" LEFT JOIN LATERAL ({_USAGE_ARRAYS}) u ON true"
    )
    params = _context_params(tenant_id, store, skus, value, since, at, now) | {"limited": limited}
    row = await (await conn.execute(sql, params)).fetchone()
    assert row is not None
    return row["store"], row["products"], _person(row), _paid_and_lots(row), _usage(row)


def _usage(row: dict[str, Any]) -> Usage:
    columns = [row[f"usage_{column}"] or [] for column in USAGE_COLUMNS]
    return {
        cid: {"id": cid, **dict(zip(USAGE_COLUMNS, values, strict=True))}
        for cid, *values in zip(row["usage_ids"] or [], *columns, strict=True)
    }


@dataclass(frozen=True, slots=True)
class Stamp:
    """The versions of a tenant's program and campaigns, and the key, that a request was served
    with from a process's caches."""

    key_id: str
    settings_version: int
    campaigns_version: int


class StaleCache(Conflict):
    """A receipt was worked out with settings, campaigns or a key changed since (a process whose
    event loop was busy had not yet heard of the change): nothing is recorded."""

    def __init__(self) -> None:
        super().__init__(
            "the program, its campaigns or this key changed while the receipt was worked out; send it again",
            code="retry",
        )


# Whether the program, its campaigns and the key a confirmation was worked out with are current.
# The tenant's row is read FOR KEY SHARE: a settings change holds it FOR UPDATE, so a receipt
# waits for one in flight and then reads the row as it committed (a locked row is read at its
# latest version, whatever the statement's snapshot), and a settings change waits for the
# receipts past this point. A currency change then finds them, or they find the new version.
_CURRENT = (
    "(SELECT t.version = %(sv)s AND t.campaigns_version = %(cv)s AND EXISTS (SELECT 1 FROM api_keys k"
    " WHERE k.tenant_id = t.id AND k.id = %(key)s::uuid AND k.revoked_at IS NULL) FROM tenants t"
    " WHERE t.id = %(t)s FOR KEY SHARE)"
)


async def confirm_context(
    conn: Connection,
    tenant_id: int,
    store: str,
    skus: list[str],
    member: tuple[str, str] | None,
    since: datetime,
    at: datetime,
    now: datetime,
    stamp: Stamp | None = None,
) -> tuple[Where, Attributes, Person, tuple[Decimal, list[LotRow]]]:
    """For a confirmation: what ``quote_context`` reads, with the member locked, so that one
    member's receipts are serialized. Two statements sent together (one round trip in pipeline
    mode): the first takes the lock and reads the store and catalog; the second, which PostgreSQL
    starts only once the first has finished and so with a snapshot taken after the lock, reads the
    lots and the tier window, including whatever a racing receipt committed."""
    by, value = member if member else (None, None)
    params = _context_params(tenant_id, store, skus, value, since, at, now)
    # With ``stamp``, whether the caches it came from are still current: a change answered by
    # another process must not be missed by a receipt confirmed after. For a member, it is read by
    # the second statement, after the lock: the first one's snapshot was taken before it waited
    # for the lock, and a change committed meanwhile was not seen (a probe's receipt, held behind
    # a large one, was recorded with a campaign deleted and a key revoked while it waited).
    current = "true"
    if stamp is not None:
        current = _CURRENT
        params |= {"sv": stamp.settings_version, "cv": stamp.campaigns_version, "key": stamp.key_id}
    if by is None:  # an anonymous basket: no lock to wait for, no ledger
        only = await conn.execute(
            f"SELECT {_STORE_AND_PRODUCTS}, NULL AS member_id, 0 AS debt, NULL AS birthday,"
            f" {current} AS current",
            params,
        )
        row = await only.fetchone()
        assert row is not None
        if not row["current"]:
            raise StaleCache()
        return row["store"], row["products"], None, (Decimal(0), [])
    locked = await conn.execute(
        f"WITH m AS ({_MEMBER_BY[by]} FOR UPDATE OF m)"
        f" SELECT {_STORE_AND_PRODUCTS}, m.id::text AS member_id, m.debt, m.birthday"
        " FROM (SELECT 1) one LEFT JOIN m ON true",
        params,
    )
    ledger = await conn.execute(
        f"WITH m AS ({_MEMBER_BY[by]}) SELECT {_PAID}, l.*, {current} AS current"
        f" FROM (SELECT 1) one LEFT JOIN m ON true LEFT JOIN LATERAL ({_LOTS}) l ON true",
        params,
    )
    row, ledger_row = await locked.fetchone(), await ledger.fetchone()
    assert row is not None and ledger_row is not None
    if not ledger_row["current"]:
        raise StaleCache()
    return row["store"], row["products"], _person(row), _paid_and_lots(ledger_row)


async def refilled_lots(
    conn: Connection, tenant_id: int, lot_ids: list[int], now: datetime
) -> tuple[dict[int, Shortfall], set[int]]:
    """Of these lots: those credited by a receipt that still has a shortfall (by lot id), and those
    not expired at ``now``. Only returns change a shortfall, under the member's lock, which the
    caller holds."""
    cur = await conn.execute(
        "SELECT l.id AS lot_id, l.expires_at > %s AS live, r.id::text AS receipt_id,"
        " r.shortfall_debt, r.shortfall_absorbed FROM lots l"
        " LEFT JOIN receipts r ON r.tenant_id = l.tenant_id AND l.source ? 'receipt'"
        " AND r.id = (l.source->>'receipt')::uuid AND (r.shortfall_debt > 0 OR r.shortfall_absorbed > 0)"
        " WHERE l.tenant_id = %s AND l.id = ANY(%s::bigint[])",
        (now, tenant_id, lot_ids),
    )
    rows = await cur.fetchall()
    owing = {
        row["lot_id"]: Shortfall(row["receipt_id"], row["shortfall_debt"], row["shortfall_absorbed"])
        for row in rows
        if row["receipt_id"] is not None
    }
    return owing, {row["lot_id"] for row in rows if row["live"]}


async def lent_to_receipts(
    conn: Connection, tenant_id: int, lot_ids: list[int]
) -> tuple[dict[int, str], dict[str, list[tuple[int, int]]]]:
    """For ``returns.restore_lent``: the receipt that credited each of these lots, and, per such
    receipt, the other lots its returns took points from in place of its own (its `reverse`
    allocations on lots it did not credit), with what is not paid back yet (``restore`` entries
    put it back), in the order taken."""
    cur = await conn.execute(
        """
        WITH owners AS (
            SELECT l.id AS lot_id, (l.source->>'receipt')::uuid AS receipt_id FROM lots l
             WHERE l.tenant_id = %(t)s AND l.id = ANY(%(lots)s::bigint[]) AND l.source ? 'receipt')
        SELECT o.lot_id, o.receipt_id::text AS receipt_id, x.lender, x.outstanding
          FROM owners o
          LEFT JOIN LATERAL (
                SELECT a.lot_id AS lender, sum(a.points) AS outstanding, min(a.id) AS first_taken
                  FROM allocations a
                  JOIN entries e ON e.tenant_id = a.tenant_id AND e.id = a.entry_id
                  JOIN lots taken ON taken.tenant_id = a.tenant_id AND taken.id = a.lot_id
                 WHERE a.tenant_id = %(t)s AND a.receipt_id = o.receipt_id AND e.kind IN ('reverse', 'restore', 'debt_paid')
                   AND (taken.source->>'receipt') IS DISTINCT FROM o.receipt_id::text
                 GROUP BY a.lot_id
                HAVING sum(a.points) > 0) x ON true
         ORDER BY o.lot_id, x.first_taken
        """,
        {"t": tenant_id, "lots": lot_ids},
    )
    owner: dict[int, str] = {}
    lent: dict[str, list[tuple[int, int]]] = {}
    for row in await cur.fetchall():
        owner[row["lot_id"]] = row["receipt_id"]
        lenders = lent.setdefault(row["receipt_id"], [])
        if row["lender"] is not None and all(lot != row["lender"] for lot, _ in lenders):
            lenders.append((row["lender"], int(row["outstanding"])))
    return owner, lent


async def change_shortfall(
    conn: Connection, tenant_id: int, receipt_id: str, debt: int, absorbed: int
) -> None:
    await conn.execute(
        "UPDATE receipts SET shortfall_debt = shortfall_debt + %s, shortfall_absorbed = shortfall_absorbed + %s"
        " WHERE tenant_id = %s AND id = %s",
        (debt, absorbed, tenant_id, receipt_id),
    )


@dataclass(frozen=True, slots=True)
class WhereItWent:
    """Where a receipt's earned points went, for placing its shortfall (``returns.place_shortfall``)."""

    drains: list[tuple[str, int]]  # taken by other receipts' returns, by receipt, in order
    passed: int  # of those, what this receipt's shortfalls already passed on
    refillable: int  # spent on receipts and not refunded yet: returns of those refill its lots
    owed: int  # its shortfall already recorded, waiting for those refills


async def where_it_went(conn: Connection, tenant_id: int, member_id: str, receipt_id: str) -> WhereItWent:
    """Where this receipt's earned points went: two statements, run only when a return falls short."""
    cur = await conn.execute(
        "SELECT a.receipt_id::text AS receipt_id, sum(a.points)::bigint AS points FROM allocations a"
        # what another receipt's returns took from this one's lots, less what they gave back
        " JOIN entries e ON e.tenant_id = a.tenant_id AND e.id = a.entry_id AND e.kind IN ('reverse', 'restore', 'debt_paid')"
        " JOIN lots l ON l.tenant_id = a.tenant_id AND l.id = a.lot_id"
        " WHERE a.tenant_id = %(t)s AND a.member_id = %(m)s AND l.member_id = %(m)s"
        " AND l.source->>'receipt' = %(r)s AND a.receipt_id <> %(r)s::uuid"
        " GROUP BY a.receipt_id HAVING sum(a.points) > 0 ORDER BY min(a.id)",
        {"t": tenant_id, "m": member_id, "r": receipt_id},
    )
    drains = [(row["receipt_id"], int(row["points"])) for row in await cur.fetchall()]
    row = await (
        await conn.execute(
            "SELECT r.shortfall_passed, r.shortfall_debt + r.shortfall_absorbed AS owed,"
            " (SELECT coalesce(sum(a.points), 0) FROM allocations a"
            "   JOIN entries e ON e.tenant_id = a.tenant_id AND e.id = a.entry_id AND e.kind IN ('spend', 'refund')"
            "   JOIN lots l ON l.tenant_id = a.tenant_id AND l.id = a.lot_id"
            "  WHERE a.tenant_id = r.tenant_id AND a.member_id = %(m)s AND l.member_id = %(m)s"
            "    AND l.source->>'receipt' = %(r)s)::bigint AS refillable"
            " FROM receipts r WHERE r.tenant_id = %(t)s AND r.id = %(r)s::uuid",
            {"t": tenant_id, "m": member_id, "r": receipt_id},
        )
    ).fetchone()
    if row is None:
        return WhereItWent(drains, 0, 0, 0)
    return WhereItWent(drains, int(row["shortfall_passed"]), int(row["refillable"]), int(row["owed"]))


async def passed_on(conn: Connection, tenant_id: int, receipt_id: str, points: int) -> None:
    await conn.execute(
        "UPDATE receipts SET shortfall_passed = shortfall_passed + %s WHERE tenant_id = %s AND id = %s",
        (points, tenant_id, receipt_id),
    )
