"""``patron verify``: every invariant of the ledger (and, as they come, of receipts), checked in SQL.

Each check is a query that returns the rows that break it; an empty result means it holds. The
database guards most of these with constraints and triggers already; this catches what a hand edit
with triggers disabled, a restore, or a bug could still leave behind."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from patron.db.pool import Connection


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    description: str
    sql: str


# What rows name, for ``references_within_tenant``: (the table and its alias, what a row of it is,
# its id as text, what it names, the table named and its alias, the named row's key columns, and
# when the row names one). Foreign keys guard these, but not against a hand edit with them off.
_REFERENCES = [
    (
        "receipts r",
        "receipt",
        "r.id::text",
        "member",
        "members m",
        ("m.id", "r.member_id"),
        "r.member_id IS NOT NULL",
    ),
    (
        "receipt_lines rl",
        "receipt line",
        "rl.receipt_id::text || ' ' || rl.line",
        "receipt",
        "receipts r",
        ("r.id", "rl.receipt_id"),
        None,
    ),
    ("lots l", "lot", "l.id::text", "member", "members m", ("m.id", "l.member_id"), None),
    ("lots l", "lot", "l.id::text", "entry", "entries e", ("e.id", "l.entry_id"), None),
    ("entries e", "entry", "e.id::text", "member", "members m", ("m.id", "e.member_id"), None),
    (
        "entries e",
        "entry",
        "e.id::text",
        "receipt",
        "receipts r",
        ("r.id", "e.receipt_id"),
        "e.receipt_id IS NOT NULL",
    ),
    ("allocations a", "allocation", "a.id::text", "lot", "lots l", ("l.id", "a.lot_id"), None),
    ("allocations a", "allocation", "a.id::text", "entry", "entries e", ("e.id", "a.entry_id"), None),
    (
        "allocations a",
        "allocation",
        "a.id::text",
        "receipt",
        "receipts r",
        ("r.id", "a.receipt_id"),
        "a.receipt_id IS NOT NULL",
    ),
    (
        "receipt_returns x",
        "return",
        "x.receipt_id::text || ' ' || x.number",
        "receipt",
        "receipts r",
        ("r.id", "x.receipt_id"),
        None,
    ),
    ("cards c", "card", "c.card", "member", "members m", ("m.id", "c.member_id"), None),
    ("adjustments j", "adjustment", "j.key", "entry", "entries e", ("e.id", "j.entry_id"), None),
]


def _references_sql() -> str:
    parts = []
    for table, kind, row_id, names, named, (key, column), when in _REFERENCES:
        alias, named_alias = table.split()[1], named.split()[1]
        parts.append(
            f"SELECT {alias}.tenant_id, '{kind}' AS row_kind, {row_id} AS row_id, '{names}' AS names"
            f" FROM {table} WHERE {when or 'TRUE'} AND {{scope_{alias}}} AND NOT EXISTS (SELECT 1 FROM {named}"
            f" WHERE {named_alias}.tenant_id = {alias}.tenant_id AND {key} = {column})"
        )
    return "\n UNION ALL ".join(parts)


CHECKS: list[Check] = [
    Check(
        "lot_remaining_matches_allocations",
        "a lot's remaining equals its points minus everything allocated against it",
        """
        SELECT l.tenant_id, l.member_id::text AS member, l.id AS lot, l.points, l.remaining,
               l.points - coalesce(a.taken, 0) AS expected
          FROM lots l
          LEFT JOIN (SELECT tenant_id, lot_id, sum(points) AS taken FROM allocations GROUP BY 1, 2) a
                 ON a.tenant_id = l.tenant_id AND a.lot_id = l.id
         WHERE l.remaining <> l.points - coalesce(a.taken, 0) AND {scope_l}
        """,
    ),
    Check(
        "lot_remaining_in_range",
        "no lot below zero or above its points",
        "SELECT tenant_id, member_id::text AS member, id AS lot, points, remaining FROM lots l"
        " WHERE (remaining < 0 OR remaining > points) AND {scope_l}",
    ),
    Check(
        "credit_entry_matches_lot",
        "the entry that created a lot credited exactly the lot's points",
        """
        SELECT l.tenant_id, l.member_id::text AS member, l.id AS lot, l.points, e.points AS entry_points
          FROM lots l JOIN entries e ON e.tenant_id = l.tenant_id AND e.id = l.entry_id
         WHERE (e.points <> l.points OR e.member_id <> l.member_id) AND {scope_l}
        """,
    ),
    Check(
        "debit_entry_matches_allocations",
        "an entry that moved points between existing lots equals minus its allocations",
        """
        SELECT e.tenant_id, e.member_id::text AS member, e.id AS entry, e.kind, e.points,
               -coalesce(a.moved, 0) AS expected
          FROM entries e
          LEFT JOIN (SELECT tenant_id, entry_id, sum(points) AS moved FROM allocations GROUP BY 1, 2) a
                 ON a.tenant_id = e.tenant_id AND a.entry_id = e.id
         WHERE NOT EXISTS (SELECT 1 FROM lots l WHERE l.tenant_id = e.tenant_id AND l.entry_id = e.id)
           AND e.points <> -coalesce(a.moved, 0) AND {scope_e}
        """,
    ),
    Check(
        "references_within_tenant",
        "every member, lot, entry and receipt a row names exists, in the row's own tenant",
        _references_sql(),
    ),
    Check(
        "allocation_same_member",
        "an allocation takes from a lot of the same member",
        """
        SELECT a.tenant_id, a.member_id::text AS member, a.id AS allocation, a.lot_id AS lot
          FROM allocations a JOIN lots l ON l.tenant_id = a.tenant_id AND l.id = a.lot_id
         WHERE a.member_id <> l.member_id AND {scope_a}
        """,
    ),
    Check(
        "member_points_match_entries",
        "a member's lot remainders add up to the sum of their entries",
        """
        SELECT m.tenant_id, m.id::text AS member, coalesce(l.left_, 0) AS lots, coalesce(e.net, 0) AS entries
          FROM members m
          LEFT JOIN (SELECT tenant_id, member_id, sum(remaining) AS left_ FROM lots GROUP BY 1, 2) l
                 ON l.tenant_id = m.tenant_id AND l.member_id = m.id
          LEFT JOIN (SELECT tenant_id, member_id, sum(points) AS net FROM entries GROUP BY 1, 2) e
                 ON e.tenant_id = m.tenant_id AND e.member_id = m.id
         WHERE coalesce(l.left_, 0) <> coalesce(e.net, 0) AND {scope_m}
        """,
    ),
    Check(
        "member_debt_matches_entries",
        "a member's recorded debt is the sum of the debt their entries recorded, and never negative",
        """
        SELECT m.tenant_id, m.id::text AS member, m.debt, coalesce(e.debt, 0) AS expected
          FROM members m
          LEFT JOIN (SELECT tenant_id, member_id, sum(debt) AS debt FROM entries GROUP BY 1, 2) e
                 ON e.tenant_id = m.tenant_id AND e.member_id = m.id
         WHERE (m.debt <> coalesce(e.debt, 0) OR m.debt < 0) AND {scope_m}
        """,
    ),
    Check(
        "receipt_lines_add_up",
        "a receipt has lines, and they add up to its totals (amount, discount, points spent, paid, points earned)",
        """
        SELECT r.tenant_id, r.id::text AS receipt, count(rl.line) AS lines,
               r.amount, sum(rl.amount) AS lines_amount, r.discount, sum(rl.discount) AS lines_discount,
               r.points_spent, sum(rl.points_spent) AS lines_points_spent, r.paid, sum(rl.paid) AS lines_paid,
               r.points_earned, sum(rl.points_earned) AS lines_points_earned
          FROM receipts r LEFT JOIN receipt_lines rl ON rl.tenant_id = r.tenant_id AND rl.receipt_id = r.id
         WHERE {scope_r}
         GROUP BY r.tenant_id, r.id
        HAVING count(rl.line) = 0
            OR r.amount <> sum(rl.amount) OR r.discount <> sum(rl.discount)
            OR r.points_spent <> sum(rl.points_spent) OR r.paid <> sum(rl.paid)
            OR r.points_earned <> sum(rl.points_earned)
        """,
    ),
    Check(
        "receipt_line_paid",
        "a line's amount is its price times its quantity, and what it paid is that less its discount and"
        " less the money value of its points (less, exactly when it spent points), never negative",
        "SELECT rl.tenant_id, rl.receipt_id::text AS receipt, rl.line, rl.price, rl.quantity, rl.amount,"
        " rl.discount, rl.points_spent, rl.paid FROM receipt_lines rl"
        " WHERE (rl.amount <> rl.price * rl.quantity OR rl.paid < 0 OR rl.discount > rl.amount"
        " OR (rl.points_spent = 0 AND rl.paid <> rl.amount - rl.discount)"
        " OR (rl.points_spent > 0 AND rl.paid >= rl.amount - rl.discount)) AND {scope_rl}",
    ),
    Check(
        "receipt_one_point_value",
        "the lines of a receipt that spent points took them at one money value a point",
        """
        SELECT rl.tenant_id, rl.receipt_id::text AS receipt,
               array_agg(DISTINCT (rl.amount - rl.discount - rl.paid) / rl.points_spent) AS values_a_point
          FROM receipt_lines rl
         WHERE rl.points_spent > 0 AND {scope_rl}
         GROUP BY rl.tenant_id, rl.receipt_id
        HAVING count(DISTINCT (rl.amount - rl.discount - rl.paid) / rl.points_spent) > 1
        """,
    ),
    Check(
        "receipt_line_spend_matches_ledger",
        "the points each line spent are exactly what the spend's allocations took for that line",
        """
        SELECT coalesce(rl.tenant_id, a.tenant_id) AS tenant_id,
               coalesce(rl.receipt_id, a.receipt_id)::text AS receipt, coalesce(rl.line, a.line) AS line,
               coalesce(rl.points_spent, 0) AS points_spent, coalesce(a.taken, 0) AS allocated
          FROM (SELECT * FROM receipt_lines rl WHERE rl.points_spent > 0 AND {scope_rl}) rl
          FULL JOIN (SELECT a.tenant_id, a.receipt_id, a.line, sum(a.points) AS taken FROM allocations a
                       JOIN entries e ON e.tenant_id = a.tenant_id AND e.id = a.entry_id AND e.kind = 'spend'
                      WHERE {scope_a}
                      GROUP BY 1, 2, 3) a
                 ON a.tenant_id = rl.tenant_id AND a.receipt_id = rl.receipt_id AND a.line = rl.line
         WHERE coalesce(rl.points_spent, 0) <> coalesce(a.taken, 0)
        """,
    ),
    Check(
        "refunds_within_spends",
        "a return puts back into a lot no more than its receipt's line took from that lot",
        """
        SELECT a.tenant_id, a.receipt_id::text AS receipt, a.line, a.lot_id AS lot,
               sum(a.points) FILTER (WHERE e.kind = 'spend') AS spent,
               -sum(a.points) FILTER (WHERE e.kind = 'refund') AS refunded
          FROM allocations a JOIN entries e ON e.tenant_id = a.tenant_id AND e.id = a.entry_id
         WHERE e.kind IN ('spend', 'refund') AND {scope_a}
         GROUP BY a.tenant_id, a.receipt_id, a.line, a.lot_id
        HAVING coalesce(-sum(a.points) FILTER (WHERE e.kind = 'refund'), 0)
               > coalesce(sum(a.points) FILTER (WHERE e.kind = 'spend'), 0)
        """,
    ),
    Check(
        "receipt_paid_net_matches_returns",
        "a receipt's money paid net of returns (what its member's tier counts) is what it paid less"
        " every refund recorded for it",
        """
        SELECT r.tenant_id, r.id::text AS receipt, r.paid, r.paid_net, coalesce(x.refunded, 0) AS refunded
          FROM receipts r
          LEFT JOIN (SELECT tenant_id, receipt_id, sum(refund) AS refunded FROM receipt_returns GROUP BY 1, 2) x
                 ON x.tenant_id = r.tenant_id AND x.receipt_id = r.id
         WHERE r.paid_net <> r.paid - coalesce(x.refunded, 0) AND {scope_r}
        """,
    ),
    Check(
        "returned_within_sold",
        "what was returned never exceeds what was sold, and the returns' records agree with the lines",
        """
        SELECT rl.tenant_id, rl.receipt_id::text AS receipt, rl.line, rl.quantity, rl.returned,
               coalesce(x.units, 0) AS recorded
          FROM receipt_lines rl
          LEFT JOIN (SELECT t.tenant_id, t.receipt_id, (kv.key)::int AS line, sum((kv.value)::int) AS units
                       FROM receipt_returns t, jsonb_each_text(t.lines) kv GROUP BY 1, 2, 3) x
                 ON x.tenant_id = rl.tenant_id AND x.receipt_id = rl.receipt_id AND x.line = rl.line
         WHERE (rl.returned > rl.quantity OR rl.returned < 0 OR rl.returned <> coalesce(x.units, 0)) AND {scope_rl}
        """,
    ),
    Check(
        "receipt_spend_matches_ledger",
        "the points a receipt spent are exactly what its spend allocations took from lots",
        """
        SELECT r.tenant_id, r.id::text AS receipt, r.points_spent, coalesce(a.taken, 0) AS allocated
          FROM receipts r
          LEFT JOIN (SELECT a.tenant_id, a.receipt_id, sum(a.points) AS taken FROM allocations a
                       JOIN entries e ON e.tenant_id = a.tenant_id AND e.id = a.entry_id AND e.kind = 'spend'
                      GROUP BY 1, 2) a ON a.tenant_id = r.tenant_id AND a.receipt_id = r.id
         WHERE r.points_spent <> coalesce(a.taken, 0) AND {scope_r}
        """,
    ),
    Check(
        "receipt_earned_matches_ledger",
        "the points a member's receipt earned are exactly the lots it credited",
        """
        SELECT r.tenant_id, r.id::text AS receipt, r.points_earned, coalesce(l.credited, 0) AS credited
          FROM receipts r
          LEFT JOIN (SELECT tenant_id, source->>'receipt' AS receipt, sum(points) AS credited FROM lots
                      WHERE source ? 'receipt' GROUP BY 1, 2) l
                 ON l.tenant_id = r.tenant_id AND l.receipt = r.id::text
         WHERE r.member_id IS NOT NULL AND r.points_earned <> coalesce(l.credited, 0) AND {scope_r}
        """,
    ),
]


SHOWN = 20  # rows shown of each failing check


@dataclass(frozen=True, slots=True)
class Failure:
    check: Check
    rows: list[dict[str, Any]]  # the first SHOWN
    count: int  # every row that fails the check


def _scoped(sql: str, tenant_id: int | None) -> str:
    scopes = {}
    for alias in ("l", "e", "a", "m", "r", "rl", "x", "c", "j"):
        scopes[f"scope_{alias}"] = "TRUE" if tenant_id is None else f"{alias}.tenant_id = %(tenant)s"
    return f"SELECT *, count(*) OVER () AS failing FROM ({sql.format(**scopes)}) found LIMIT {SHOWN}"


def report(failures: list[Failure], slugs: dict[int, str]) -> list[str]:
    """The failures as lines for an operator: each check with how many rows fail it, then those
    shown, one JSON object a line (for grep and jq), naming tenants by slug."""
    lines = []
    for failure in failures:
        shown = f"; the first {len(failure.rows)}" if failure.count > len(failure.rows) else ""
        lines.append(
            f"FAILED {failure.check.name}: {failure.check.description} ({failure.count} rows{shown})"
        )
        for row in failure.rows:
            named = dict(row)
            if "tenant_id" in named:
                tenant = named.pop("tenant_id")
                named = {"tenant": slugs.get(tenant, tenant), **named}
            lines.append("    " + json.dumps(named, default=_plain))
    return lines


def _plain(value: Any) -> Any:
    """A sum comes back as a Decimal: a whole one is a number, as the columns beside it are (jq
    compared "21" with 20); anything else is its text."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return str(value)


async def run(
    conn: Connection, tenant_id: int | None = None, checks: list[Check] | None = None
) -> list[Failure]:
    """Runs every check (over one tenant, or all); returns those that failed with sample rows."""
    failures = []
    # Each check ends in LIMIT 20, which tempts the planner into nested loops over whole tables
    # (minutes on a large ledger); hash joins over everything take seconds. Merge joins too: over
    # every tenant, lots joined to receipts merged on the tenant alone and compared each receipt
    # with every lot of its tenant (5 minutes at 200,000 receipt lines, against 2 s a tenant).
    await conn.execute("SET LOCAL enable_nestloop = off")
    await conn.execute("SET LOCAL enable_mergejoin = off")
    for check in checks if checks is not None else CHECKS:
        cur = await conn.execute(_scoped(check.sql, tenant_id), {"tenant": tenant_id})
        rows = await cur.fetchall()
        if rows:
            count = int(rows[0]["failing"])
            failures.append(
                Failure(check, [{k: v for k, v in row.items() if k != "failing"} for row in rows], count)
            )
    return failures
