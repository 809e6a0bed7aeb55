"""SQL for campaigns, their usage, and what they gave on each receipt."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from psycopg.types.json import Jsonb

from patron.db.pool import Connection
from patron.errors import NotFound

_COLUMNS = "id::text AS id, definition, created_at, updated_at"


async def bump_version(conn: Connection, tenant_id: int) -> dict[str, Any]:
    """Every process reloads the tenant's campaigns when it next sees the new version. Returns the
    program's settings as they are now: the row lock taken holds off a program change (which locks
    the row FOR UPDATE) until this transaction ends, and one committed while it waited is seen."""
    row = await (
        await conn.execute(
            "UPDATE tenants SET campaigns_version = campaigns_version + 1 WHERE id = %s RETURNING settings",
            (tenant_id,),
        )
    ).fetchone()
    assert row is not None
    return cast(dict[str, Any], row["settings"])


# Each change bumps the tenant's campaigns version first, so that it takes the tenant's row before
# any campaign's: a currency change holds that row and then waits for the campaigns table, and a
# campaign change taking them the other way round deadlocked with it. ``insert`` and ``replace``
# leave it to their caller (campaigns/service.py), which checks the definition against the
# program that ``bump_version`` returns.


async def insert(conn: Connection, tenant_id: int, definition: dict[str, Any]) -> dict[str, Any]:
    row = await (
        await conn.execute(
            f"INSERT INTO campaigns (tenant_id, definition) VALUES (%s, %s) RETURNING {_COLUMNS}",
            (tenant_id, Jsonb(definition)),
        )
    ).fetchone()
    assert row is not None
    return row


async def replace(
    conn: Connection, tenant_id: int, campaign_id: str, definition: dict[str, Any]
) -> dict[str, Any]:
    row = await (
        await conn.execute(
            f"UPDATE campaigns SET definition = %s, updated_at = now() WHERE tenant_id = %s AND id = %s"
            f" AND deleted_at IS NULL RETURNING {_COLUMNS}",
            (Jsonb(definition), tenant_id, campaign_id),
        )
    ).fetchone()
    if row is None:
        raise NotFound("no such campaign", code="campaign_not_found")
    return row


async def delete(conn: Connection, tenant_id: int, campaign_id: str) -> None:
    """Campaigns are kept (receipts and budgets refer to them); a deleted one is simply gone from view."""
    await bump_version(conn, tenant_id)
    cur = await conn.execute(
        "UPDATE campaigns SET deleted_at = now() WHERE tenant_id = %s AND id = %s AND deleted_at IS NULL",
        (tenant_id, campaign_id),
    )
    if cur.rowcount == 0:
        raise NotFound("no such campaign", code="campaign_not_found")


async def get(conn: Connection, tenant_id: int, campaign_id: str) -> dict[str, Any]:
    row = await (
        await conn.execute(
            f"SELECT {_COLUMNS} FROM campaigns WHERE tenant_id = %s AND id = %s AND deleted_at IS NULL",
            (tenant_id, campaign_id),
        )
    ).fetchone()
    if row is None:
        raise NotFound("no such campaign", code="campaign_not_found")
    return row


async def all_live(conn: Connection, tenant_id: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM campaigns WHERE tenant_id = %s AND deleted_at IS NULL ORDER BY created_at, id",
        (tenant_id,),
    )
    return await cur.fetchall()


# Uses, points and money given so far, and the member's uses, of the campaigns %(limited)s (a row
# for each, zeros when unused), for the tenant %(t)s and the member {member} (NULL: nobody's).
USAGE = (
    "SELECT c.id::text AS id, coalesce(cu.uses, 0) AS uses, coalesce(cu.points, 0) AS points,"
    " coalesce(cu.money, 0) AS money, coalesce(cmu.uses, 0) AS member_uses"
    " FROM unnest(%(limited)s::uuid[]) AS c(id)"
    " LEFT JOIN campaign_usage cu ON cu.tenant_id = %(t)s AND cu.campaign_id = c.id"
    " LEFT JOIN campaign_member_usage cmu"
    "   ON cmu.tenant_id = %(t)s AND cmu.campaign_id = c.id AND cmu.member_id = {member}"
)
USAGE_COLUMNS = ("uses", "points", "money", "member_uses")


async def usage(
    conn: Connection, tenant_id: int, campaign_ids: list[str], member_id: str | None
) -> dict[str, dict[str, Any]]:
    """Uses, points and money given so far, and this member's uses, of limited campaigns."""
    cur = await conn.execute(
        USAGE.format(member="%(member)s"), {"limited": campaign_ids, "t": tenant_id, "member": member_id}
    )
    return {row["id"]: row for row in await cur.fetchall()}


@dataclass(frozen=True, slots=True)
class Use:
    """One use of a limited campaign that a receipt wants to count, with the limits it must fit."""

    campaign_id: str
    points: int
    money: Decimal
    uses_limit: int | None
    points_budget: int | None
    money_budget: Decimal | None
    per_member: int | None


async def take(conn: Connection, tenant_id: int, member_id: str | None, wanted: list[Use]) -> set[str]:
    """Counts one use of each campaign where its limits still allow it; the campaigns refused.

    A handful of statements however many campaigns. The usage rows are locked in campaign id
    order, as returns give uses back (``release``), so a receipt and a return never deadlock. The
    caller rolls everything back when any is refused (a savepoint)."""
    if not wanted:
        return set()
    wanted = sorted(wanted, key=lambda use: use.campaign_id)
    ids = [use.campaign_id for use in wanted]
    await conn.execute(
        "INSERT INTO campaign_usage (tenant_id, campaign_id)"
        " SELECT %s, id FROM unnest(%s::uuid[]) AS g(id) ORDER BY id ON CONFLICT DO NOTHING",
        (tenant_id, ids),
    )
    if len(ids) > 1:  # one row needs no order
        await conn.execute(
            "SELECT 1 FROM campaign_usage WHERE tenant_id = %s AND campaign_id = ANY(%s::uuid[])"
            " ORDER BY campaign_id FOR UPDATE",
            (tenant_id, ids),
        )
    counted = await (
        await conn.execute(
            "UPDATE campaign_usage u SET uses = u.uses + 1, points = u.points + g.points,"
            " money = u.money + g.money"
            " FROM unnest(%s::uuid[], %s::bigint[], %s::numeric[], %s::bigint[], %s::bigint[], %s::numeric[])"
            " AS g(id, points, money, uses_limit, points_budget, money_budget)"
            " WHERE u.tenant_id = %s AND u.campaign_id = g.id"
            " AND (g.uses_limit IS NULL OR u.uses + 1 <= g.uses_limit)"
            " AND (g.points_budget IS NULL OR u.points + g.points <= g.points_budget)"
            " AND (g.money_budget IS NULL OR u.money + g.money <= g.money_budget)"
            " RETURNING g.id::text AS id",
            (
                ids,
                [use.points for use in wanted],
                [use.money for use in wanted],
                [use.uses_limit for use in wanted],
                [use.points_budget for use in wanted],
                [use.money_budget for use in wanted],
                tenant_id,
            ),
        )
    ).fetchall()
    refused = set(ids) - {row["id"] for row in counted}
    per_member = [use for use in wanted if use.per_member is not None and use.campaign_id not in refused]
    if per_member and member_id is not None:
        # a member's receipts are serialized by the member's lock: these rows see no race
        allowed = await (
            await conn.execute(
                "WITH g AS (SELECT * FROM unnest(%s::uuid[], %s::bigint[]) AS g(id, per_member))"
                " INSERT INTO campaign_member_usage AS u (tenant_id, campaign_id, member_id, uses)"
                " SELECT %s, g.id, %s, 1 FROM g ORDER BY g.id"
                " ON CONFLICT (tenant_id, campaign_id, member_id) DO UPDATE SET uses = u.uses + 1"
                " WHERE u.uses + 1 <= (SELECT g.per_member FROM g WHERE g.id = u.campaign_id)"
                " RETURNING u.campaign_id::text AS id",
                (
                    [use.campaign_id for use in per_member],
                    [use.per_member for use in per_member],
                    tenant_id,
                    member_id,
                ),
            )
        ).fetchall()
        refused |= {use.campaign_id for use in per_member} - {row["id"] for row in allowed}
    return refused


async def record_applied(
    conn: Connection,
    tenant_id: int,
    receipt_id: str,
    member_id: str | None,
    applied: list[tuple[str, Decimal, int, bool]],
) -> None:
    """What each campaign gave the receipt: ``(campaign id, discount, points, counted)``, where
    ``counted`` says the receipt counted a use of the campaign's limits (``take``)."""
    if not applied:
        return
    await conn.execute(
        "INSERT INTO receipt_campaigns (tenant_id, receipt_id, campaign_id, member_id, discount, points, counted)"
        " SELECT %s, %s, c, %s, d, p, n"
        " FROM unnest(%s::uuid[], %s::numeric[], %s::bigint[], %s::boolean[]) AS t(c, d, p, n)",
        (
            tenant_id,
            receipt_id,
            member_id,
            [a[0] for a in applied],
            [a[1] for a in applied],
            [a[2] for a in applied],
            [a[3] for a in applied],
        ),
    )


async def release(
    conn: Connection,
    tenant_id: int,
    receipt_id: str,
    given_back: list[tuple[str, Decimal, int, bool]],
) -> None:
    """Gives back what a return took back of a receipt's campaigns: for each ``(campaign id,
    discount, points, all units back)``, its share of what the campaign gave, and the use once the
    receipt has nothing left of it. A campaign's limits get back only what this receipt counted
    of them (``counted``): a campaign that had no limits when the receipt was confirmed, or gave
    it nothing, used none. A handful of statements however many campaigns; the campaigns' usage
    rows are locked in campaign id order, as receipts count uses (``take``), so the two never
    deadlock."""
    if not given_back:
        return
    given_back = sorted(given_back)
    ids = [cid for cid, _, _, _ in given_back]
    rows = await (
        await conn.execute(
            "SELECT campaign_id::text AS id, member_id::text AS member_id, use_released, counted"
            " FROM receipt_campaigns"
            " WHERE tenant_id = %s AND receipt_id = %s AND campaign_id = ANY(%s::uuid[])"
            " ORDER BY campaign_id FOR UPDATE",
            (tenant_id, receipt_id, ids),
        )
    ).fetchall()
    recorded = {row["id"]: row for row in rows}
    changes = [
        (cid, discount, points, use and not recorded[cid]["use_released"], recorded[cid])
        for cid, discount, points, use in given_back
        if cid in recorded
    ]
    if not changes:
        return
    await conn.execute(
        "UPDATE receipt_campaigns rc SET released_discount = rc.released_discount + g.discount,"
        " released_points = rc.released_points + g.points, use_released = rc.use_released OR g.use"
        " FROM unnest(%s::uuid[], %s::numeric[], %s::bigint[], %s::boolean[]) AS g(id, discount, points, use)"
        " WHERE rc.tenant_id = %s AND rc.receipt_id = %s AND rc.campaign_id = g.id",
        (
            [c[0] for c in changes],
            [c[1] for c in changes],
            [c[2] for c in changes],
            [c[3] for c in changes],
            tenant_id,
            receipt_id,
        ),
    )
    counted = [c for c in changes if c[4]["counted"]]
    if not counted:
        return
    columns = (
        [c[0] for c in counted],
        [c[1] for c in counted],
        [c[2] for c in counted],
        [c[3] for c in counted],
    )
    if len(counted) > 1:  # one row needs no order
        await conn.execute(
            "SELECT 1 FROM campaign_usage WHERE tenant_id = %s AND campaign_id = ANY(%s::uuid[])"
            " ORDER BY campaign_id FOR UPDATE",
            (tenant_id, columns[0]),
        )
    # Never below zero: receipts from before 0017 are taken as counted, and one whose campaign got
    # its limits later gives back what it never took.
    await conn.execute(
        "UPDATE campaign_usage u SET uses = greatest(u.uses - g.use::int, 0),"
        " points = greatest(u.points - g.points, 0), money = greatest(u.money - g.discount, 0)"
        " FROM unnest(%s::uuid[], %s::numeric[], %s::bigint[], %s::boolean[]) AS g(id, discount, points, use)"
        " WHERE u.tenant_id = %s AND u.campaign_id = g.id",
        (*columns, tenant_id),
    )
    members = [(c[0], c[4]["member_id"]) for c in counted if c[3] and c[4]["member_id"]]
    if members:
        await conn.execute(
            "UPDATE campaign_member_usage m SET uses = greatest(m.uses - 1, 0)"
            " FROM unnest(%s::uuid[], %s::uuid[]) AS g(id, member)"
            " WHERE m.tenant_id = %s AND m.campaign_id = g.id AND m.member_id = g.member",
            ([m[0] for m in members], [m[1] for m in members], tenant_id),
        )
