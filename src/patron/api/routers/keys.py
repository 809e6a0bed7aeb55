"""API keys of the caller's tenant (contract 2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from patron.api.deps import AdminKey
from patron.api.routing import JsonBodyRoute
from patron.fields import NotBlank
from patron.tenants import keys, store
from patron.tenants.keys import Role

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/api-keys", tags=["api keys"])


class KeyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"role": "pos", "name": "till 12"}]}
    )

    role: Role
    name: NotBlank = Field("", max_length=200, description="none when empty; not blank (spaces alone)")


class KeyOut(BaseModel):
    id: str
    api_key: str = Field(description="shown only in this answer; Patron keeps only its hash")
    role: Role
    name: str


@router.post(
    "",
    status_code=201,
    response_model=KeyOut,
    summary="Create an API key (admin)",
    description="Answers 201 with `id`, `api_key`, `role` and `name` (default empty). The key is shown "
    "only in this answer; Patron keeps its hash. `role` is `admin` or `pos`.",
)
async def create_key(body: KeyIn, ctx: AdminKey) -> dict[str, Any]:
    new = keys.generate()
    async with ctx.db.transaction() as conn:
        key_id = await store.insert_key(conn, ctx.tenant_id, body.role, body.name, new)
    return {"id": key_id, "api_key": new.secret, "role": body.role, "name": body.name}


@router.get(
    "",
    summary="List API keys (admin; secrets are never shown again)",
    description='`{"items": [...]}`, oldest first: each key\'s `id`, `role`, `name`, `prefix` (the first '
    "characters of the key, to tell keys apart), `created_at` and `revoked_at`. Revoked keys are listed too.",
)
async def list_keys(ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        return {"items": await store.list_keys(conn, ctx.tenant_id)}


@router.delete(
    "/{key_id}",
    status_code=204,
    summary="Revoke an API key (admin)",
    description="Answers 204. The key stops working at once in the process that answered, and in the "
    "others within milliseconds. A key may revoke itself. Revoking a revoked key is no change (204 again: a "
    "retry is safe); an unknown id is a 404 `not_found`.",
)
async def revoke_key(key_id: str, ctx: AdminKey) -> None:
    import uuid

    from patron.errors import NotFound

    try:
        canonical = str(uuid.UUID(key_id))
    except ValueError as exc:
        raise NotFound("no such API key") from exc
    async with ctx.db.transaction() as conn:
        await store.revoke_key(conn, ctx.tenant_id, canonical)
