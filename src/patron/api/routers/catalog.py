"""Stores and products (contract 4)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Response

from patron.api.deps import AdminKey
from patron.api.routing import JsonBodyRoute
from patron.catalog import store
from patron.catalog.model import CODE_PATTERN, ProductBulkItem, ProductIn, StoreIn
from patron.errors import InvalidInput
from patron.fields import sku_text

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1", tags=["stores and products"])


def _code(what: str) -> Any:
    return Path(pattern=CODE_PATTERN, description=what)


def _sku(raw: str) -> str:
    """A SKU from the path (``{sku:path}``: it may hold a ``/``, sent as ``%2F``)."""
    if not 1 <= len(raw) <= 64:
        raise InvalidInput("sku: 1 to 64 characters", field="sku")
    try:
        return sku_text(raw)
    except ValueError as exc:
        raise InvalidInput(f"sku: {exc}", field="sku") from exc


@router.put(
    "/stores/{code}",
    summary="Create or replace a store (admin)",
    description="201 when the store is new, 200 when it replaced one; both answer the store. `timezone` is a "
    "tz database name (the program's when absent); `country` an ISO 3166 code, stored in capitals. A "
    "code is 1 to 64 letters, digits and `_.:-`, starting with a letter or digit (else 422).",
    responses={201: {"description": "the store is new"}},
)
async def put_store(
    body: StoreIn, ctx: AdminKey, response: Response, code: str = _code("the store's code")
) -> dict[str, Any]:
    async with ctx.db.transaction() as conn:
        created = await store.put_store(conn, ctx.tenant_id, code, body)
        result = await store.get_store(conn, ctx.tenant_id, code)
    response.status_code = 201 if created else 200
    return result


@router.get("/stores/{code}", summary="A store (admin)", description="404 `store_not_found`.")
async def get_store(ctx: AdminKey, code: str = _code("the store's code")) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        return await store.get_store(conn, ctx.tenant_id, code)


@router.get(
    "/stores",
    summary="All stores (admin)",
    description='`{"items": [...]}`, sorted by code; not paginated.',
)
async def list_stores(ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        return {"items": await store.list_stores(conn, ctx.tenant_id)}


@router.put(
    "/products/{sku:path}",
    summary="Create or replace a product (admin)",
    description="Answers 200 with the product, new or replaced (the whole of `attributes` is replaced). "
    "Attribute names are 1 to 64 characters; `sku`, `price` and `quantity` are reserved (422). A receipt "
    "line's own `attributes` are merged over these. A SKU is 1 to 64 characters without control characters "
    "or spaces at either end, as in a basket (a `/` in it is sent as `%2F`).",
)
async def put_product(
    body: ProductIn, ctx: AdminKey, sku: str = Path(description="the product's SKU")
) -> dict[str, Any]:
    sku = _sku(sku)
    async with ctx.db.transaction() as conn:
        await store.put_product(conn, ctx.tenant_id, sku, body)
        return await store.get_product(conn, ctx.tenant_id, sku)


@router.get("/products/{sku:path}", summary="A product (admin)", description="404 `product_not_found`.")
async def get_product(ctx: AdminKey, sku: str = Path(description="the product's SKU")) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        return await store.get_product(conn, ctx.tenant_id, _sku(sku))


@router.post(
    "/products:bulk",
    summary="Create or replace many products at once (admin)",
    description='A list of `{"sku", "name", "attributes"}`, each as `PUT /v1/products/{sku}` takes it; at '
    "most 10,000, each SKU once (else 422). All or nothing, in one transaction. Answers 200 with "
    '`{"upserted": n}`. Sending the same list again is harmless.',
)
async def bulk_products(body: list[ProductBulkItem], ctx: AdminKey) -> dict[str, Any]:
    if len(body) > 10_000:
        raise InvalidInput("at most 10000 products per request", field="body")
    if len({item.sku for item in body}) != len(body):
        raise InvalidInput("a SKU appears twice in the list", field="sku")
    async with ctx.db.transaction() as conn:
        count = await store.put_products(conn, ctx.tenant_id, body)
    return {"upserted": count}
