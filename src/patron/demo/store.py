"""SQL for the demo's bulk load (COPY through a temporary table, so a rerun inserts only what is
missing) and what a rerun needs to know to resume."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from psycopg.types.json import Jsonb

from patron.db.pool import Connection
from patron.demo.data import Household, Product, Store


async def counts(conn: Connection, tenant_id: int) -> dict[str, int]:
    row = await (
        await conn.execute(
            "SELECT (SELECT count(*) FROM stores WHERE tenant_id = %(t)s) AS stores,"
            " (SELECT count(*) FROM products WHERE tenant_id = %(t)s) AS products,"
            " (SELECT count(*) FROM members WHERE tenant_id = %(t)s) AS members,"
            " (SELECT count(*) FROM receipts WHERE tenant_id = %(t)s) AS receipts,"
            " (SELECT count(*) FROM receipt_returns WHERE tenant_id = %(t)s) AS returns",
            {"t": tenant_id},
        )
    ).fetchone()
    assert row is not None
    return {name: int(value) for name, value in row.items()}


async def put_stores(conn: Connection, tenant_id: int, stores: list[Store]) -> None:
    """Creates or replaces the stores in one statement."""
    await conn.execute(
        "INSERT INTO stores (tenant_id, code, name, country, city, timezone)"
        " SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[])"
        " ON CONFLICT (tenant_id, code) DO UPDATE SET name = EXCLUDED.name, country = EXCLUDED.country,"
        " city = EXCLUDED.city, timezone = EXCLUDED.timezone, updated_at = now()",
        (
            tenant_id,
            [s.code for s in stores],
            [s.name for s in stores],
            [s.country for s in stores],
            [s.city for s in stores],
            [s.timezone for s in stores],
        ),
    )


async def add_products(conn: Connection, tenant_id: int, products: Iterable[Product]) -> int:
    """Inserts the products whose SKU is new (a product changed through the API keeps its change)."""
    await conn.execute(
        "CREATE TEMPORARY TABLE demo_products (sku text, name text, attributes jsonb) ON COMMIT DROP"
    )
    async with conn.cursor().copy("COPY demo_products (sku, name, attributes) FROM STDIN") as copy:
        for product in products:
            await copy.write_row((product.sku, product.name, Jsonb(product.attributes)))
    cur = await conn.execute(
        "INSERT INTO products (tenant_id, sku, name, attributes) SELECT %s, sku, name, attributes"
        " FROM demo_products ON CONFLICT (tenant_id, sku) DO NOTHING",
        (tenant_id,),
    )
    return cur.rowcount


async def add_members(conn: Connection, tenant_id: int, households: Iterable[Household]) -> int:
    """Inserts the households whose phone is new, each with its card."""
    await conn.execute(
        "CREATE TEMPORARY TABLE demo_members (phone text, card text, name text, city text, birthday date)"
        " ON COMMIT DROP"
    )
    async with conn.cursor().copy("COPY demo_members (phone, card, name, city, birthday) FROM STDIN") as copy:
        for h in households:
            await copy.write_row((h.phone, h.card, h.name, h.city, h.birthday))
    cur = await conn.execute(
        "INSERT INTO members (tenant_id, phone, name, city, birthday)"
        " SELECT %s, phone, name, city, birthday FROM demo_members"
        " ON CONFLICT (tenant_id, phone) DO NOTHING",
        (tenant_id,),
    )
    added = cur.rowcount
    await conn.execute(
        "INSERT INTO cards (tenant_id, card, member_id)"
        " SELECT m.tenant_id, d.card, m.id FROM demo_members d"
        " JOIN members m ON m.tenant_id = %s AND m.phone = d.phone"
        " ON CONFLICT (tenant_id, card) DO NOTHING",
        (tenant_id,),
    )
    return added


async def receipt_numbers(conn: Connection, tenant_id: int) -> set[str]:
    cur = await conn.execute("SELECT number FROM receipts WHERE tenant_id = %s", (tenant_id,))
    return {row["number"] for row in await cur.fetchall()}


async def returned_receipt_numbers(conn: Connection, tenant_id: int, return_number: str) -> set[str]:
    """Numbers of the receipts that have a return numbered ``return_number`` already."""
    cur = await conn.execute(
        "SELECT r.number FROM receipt_returns rr JOIN receipts r ON r.tenant_id = rr.tenant_id"
        " AND r.id = rr.receipt_id WHERE rr.tenant_id = %s AND rr.number = %s",
        (tenant_id, return_number),
    )
    return {row["number"] for row in await cur.fetchall()}


async def receipt_ids(conn: Connection, tenant_id: int, numbers: list[str]) -> dict[str, str]:
    cur = await conn.execute(
        "SELECT number, id::text AS id FROM receipts WHERE tenant_id = %s AND number = ANY(%s)",
        (tenant_id, numbers),
    )
    return {row["number"]: row["id"] for row in await cur.fetchall()}


async def mark_days(conn: Connection, tenant_id: int, first: date, last: date) -> None:
    """Marks the UTC days ``first`` to ``last`` for the dashboard to add up again."""
    await conn.execute(
        "INSERT INTO dashboard_marks (tenant_id, day)"
        " SELECT %s, d::date FROM generate_series(%s::date, %s::date, interval '1 day') d"
        " ON CONFLICT DO NOTHING",
        (tenant_id, first, last),
    )


GROWING = ("receipts", "receipt_lines", "lots", "entries", "allocations", "members", "products")


async def analyze(conn: Connection) -> None:
    """Fresh planner statistics for the tables the replay fills. On a new database they start
    empty, and a statement prepared then keeps a plan made for empty tables (one that reads the
    whole tenant through an index prefix) until statistics change and invalidate it."""
    for table in GROWING:
        await conn.execute(f"ANALYZE {table}")


async def settings(conn: Connection, tenant_id: int) -> dict[str, Any]:
    row = await (await conn.execute("SELECT settings FROM tenants WHERE id = %s", (tenant_id,))).fetchone()
    assert row is not None
    return dict(row["settings"])
