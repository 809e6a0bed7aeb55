"""API keys of the tenant (contract 2): list, create (the secret is shown once), revoke."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import Response

from patron.errors import NotFound
from patron.tenants import keys as api_keys
from patron.tenants import store as tenants
from patron.web import auth, forms, render
from patron.web.auth import Admin, Form, Viewer

router = APIRouter()


async def _page(
    request: Request,
    admin: Admin,
    *,
    created: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
    typed: dict[str, str] | None = None,
) -> Response:
    """``typed``: a refused form's name and role, shown again as they were."""
    admin.require_admin("API keys")
    async with admin.db.read() as conn:
        items = await tenants.list_keys(conn, admin.tenant_id)
    ok = "Key revoked." if request.query_params.get("ok") == "revoked" else None
    return render.page(
        request,
        "keys.html",
        admin,
        status_code=status,
        keys=items,
        created=created,
        error=error,
        ok=ok,
        typed=typed or {},
    )


@router.get("/api-keys")
async def keys_page(request: Request, admin: Viewer) -> Response:
    return await _page(request, admin, created=await auth.take_once(request))  # a reload shows it no more


@router.post("/api-keys")
async def create_key(request: Request, posted: Form) -> Response:
    admin = posted.admin
    admin.require_admin("API keys")
    role = posted.text("role")
    name = posted.text("name")
    typed = {"name": name.replace("\x00", ""), "role": role}
    if role not in api_keys.ROLES:
        return await _page(request, admin, error="role: either admin or pos", status=422, typed=typed)
    if "\x00" in name:  # the database cannot store it: said here, with the form
        return await _page(request, admin, error=f"name: {forms.NUL_MESSAGE}", status=422, typed=typed)
    if len(name) > 200:  # as the API refuses it, rather than saving it cut
        return await _page(request, admin, error="name: at most 200 characters", status=422, typed=typed)
    new = api_keys.generate()
    async with admin.db.transaction() as conn:
        key_id = await tenants.insert_key(conn, admin.tenant_id, role, name, new)
    # Redirected, so that reloading the page creates no second key; the page after it is the only
    # one that shows the secret (kept with the session for a minute, forgotten as it is shown).
    await auth.show_once(request, {"id": key_id, "secret": new.secret, "role": role, "name": name})
    return render.redirect(request, "/api-keys")


@router.post("/api-keys/{key_id}/revoke")
async def revoke_key(request: Request, posted: Form, key_id: str) -> Response:
    admin = posted.admin
    admin.require_admin("API keys")
    try:
        canonical = str(uuid.UUID(key_id))
    except ValueError as exc:
        raise NotFound("no such API key") from exc
    async with admin.db.transaction() as conn:
        await tenants.revoke_key(conn, admin.tenant_id, canonical)
    return render.redirect(request, "/api-keys?ok=revoked")
