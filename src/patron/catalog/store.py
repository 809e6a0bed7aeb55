"""SQL for stores and products."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from patron.catalog.model import ProductBulkItem, ProductIn, StoreIn
from patron.db.pool import Connection
from patron.errors import NotFound


async def put_store(conn: Connection, tenant_id: int, code: str, store: StoreIn) -> bool:
    """Creates or replaces a store; True when it is new."""
    row = await (
        await conn.execute(
            "INSERT INTO stores (tenant_id, code, name, country, city, timezone) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (tenant_id, code) DO UPDATE SET name = EXCLUDED.name, country = EXCLUDED.country,"
            " city = EXCLUDED.city, timezone = EXCLUDED.timezone, updated_at = now()"
            " RETURNING (xmax = 0) AS created",
            (tenant_id, code, store.name, store.country, store.city, store.timezone),
        )
    ).fetchone()
    assert row is not None
    return bool(row["created"])


async def store_exists(conn: Connection, tenant_id: int, code: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM stores WHERE tenant_id = %s AND code = %s", (tenant_id, code))
    return await cur.fetchone() is not None


async def get_store(conn: Connection, tenant_id: int, code: str) -> dict[str, Any]:
    row = await (
        await conn.execute(
            "SELECT code, name, country, city, timezone FROM stores WHERE tenant_id = %s AND code = %s",
            (tenant_id, code),
        )
    ).fetchone()
    if row is None:
        raise NotFound(f"no store {code!r}", code="store_not_found")
    return row


async def list_stores(conn: Connection, tenant_id: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT code, name, country, city, timezone FROM stores WHERE tenant_id = %s ORDER BY code",
        (tenant_id,),
    )
    return await cur.fetchall()


async def put_products(conn: Connection, tenant_id: int, items: list[ProductBulkItem]) -> int:
    """Creates or replaces products in one statement."""
    if not items:
        return 0
    cur = await conn.execute(
        "INSERT INTO products (tenant_id, sku, name, attributes)"
        " SELECT %s, s, n, a FROM unnest(%s::text[], %s::text[], %s::jsonb[]) AS t(s, n, a)"
        " ON CONFLICT (tenant_id, sku) DO UPDATE SET name = EXCLUDED.name, attributes = EXCLUDED.attributes,"
        " updated_at = now()",
        (
            tenant_id,
            [item.sku for item in items],
            [item.name for item in items],
            [Jsonb(item.model_dump(mode="json")["attributes"]) for item in items],
        ),
    )
    return cur.rowcount


async def put_product(conn: Connection, tenant_id: int, sku: str, product: ProductIn) -> None:
    await put_products(conn, tenant_id, [ProductBulkItem(sku=sku, **product.model_dump())])


async def get_product(conn: Connection, tenant_id: int, sku: str) -> dict[str, Any]:
    row = await (
        await conn.execute(
            "SELECT sku, name, attributes FROM products WHERE tenant_id = %s AND sku = %s", (tenant_id, sku)
        )
    ).fetchone()
    if row is None:
        raise NotFound(f"no product {sku!r}", code="product_not_found")
    return row


async def product_attributes(conn: Connection, tenant_id: int, skus: list[str]) -> dict[str, dict[str, Any]]:
    cur = await conn.execute(
        "SELECT sku, attributes FROM products WHERE tenant_id = %s AND sku = ANY(%s)", (tenant_id, skus)
    )
    return {row["sku"]: row["attributes"] for row in await cur.fetchall()}
