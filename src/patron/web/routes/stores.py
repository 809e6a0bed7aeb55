"""Stores (contract 4), saved as ``PUT /v1/stores/{code}`` saves them."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from patron.catalog import store as catalog
from patron.catalog.model import CODE_PATTERN, StoreIn
from patron.web import forms, render
from patron.web.auth import Admin, Form, Viewer

router = APIRouter()
FIELDS = ("code", "name", "country", "city", "timezone")


async def _page(
    request: Request,
    admin: Admin,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
    editing: str = "",
) -> Response:
    async with admin.db.read() as conn:
        stores = await catalog.list_stores(conn, admin.tenant_id)
    ok = request.query_params.get("ok")
    return render.page(
        request,
        "stores.html",
        admin,
        status_code=status,
        stores=stores,
        values=values,
        errors=errors,
        editing=editing,
        ok=f"Store {ok} saved." if ok and re.fullmatch(CODE_PATTERN, ok) else None,
    )


@router.get("/stores")
async def stores_page(request: Request, admin: Viewer, edit: str | None = None) -> Response:
    values: dict[str, Any] = dict.fromkeys(FIELDS, "")
    if edit:
        async with admin.db.read() as conn:
            found = await catalog.get_store(conn, admin.tenant_id, edit)
        values = {k: found.get(k) or "" for k in FIELDS}
    return await _page(request, admin, values, {}, editing=values["code"])


@router.post("/stores")
async def save_store(request: Request, posted: Form) -> Response:
    admin = posted.admin
    admin.require_admin("stores")
    values = {name: posted.text(name) for name in FIELDS}
    errors: dict[str, str] = forms.nul_errors(values)
    if not re.fullmatch(CODE_PATTERN, values["code"]):
        errors["code"] = "letters, digits and _ . : - (at most 64), starting with a letter or digit"
    try:
        body = StoreIn.model_validate({k: v or None for k, v in values.items() if k != "code"})
    except ValidationError as exc:
        errors |= forms.errors_by_field(exc)
    editing = posted.text("editing")
    if editing and values["code"] != editing and "code" not in errors:
        # tills send the code: a changed one made a second store and left this one as it was
        errors["code"] = (
            f"a store's code cannot change: this form edits {editing}; add a store for a new code"
        )
    if errors:
        return await _page(request, admin, values, errors, 422, editing)
    async with admin.db.transaction() as conn:
        if editing != values["code"] and await catalog.store_exists(conn, admin.tenant_id, values["code"]):
            # the form to add a store would otherwise replace one silently
            errors["code"] = f"a store {values['code']} exists: choose Edit by it in the list to change it"
        else:
            await catalog.put_store(conn, admin.tenant_id, values["code"], body)
    if errors:
        return await _page(request, admin, values, errors, 409, editing)
    return render.redirect(request, f"/stores?ok={values['code']}")
