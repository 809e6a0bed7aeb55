"""Users of the admin app: list, invite with a password, change role, disable, reset password."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from patron.errors import Conflict, InvalidInput, NotFound
from patron.web import render, users
from patron.web import store as web_store
from patron.web.auth import Admin, Form, Viewer

router = APIRouter()
MESSAGES = {"created": "User created.", "changed": "User changed.", "password": "Password set."}


async def _page(
    request: Request,
    admin: Admin,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    admin.require_admin("users")
    async with admin.db.read() as conn:
        items = await web_store.list_users(conn, admin.tenant_id)
    return render.page(
        request,
        "users.html",
        admin,
        status_code=status,
        users=items,
        roles=users.ROLES,
        errors=errors or {},
        values=values or {"email": "", "role": "support"},
        ok=MESSAGES.get(request.query_params.get("ok", "")),
    )


@router.get("/users")
async def users_page(request: Request, admin: Viewer) -> Response:
    return await _page(request, admin)


@router.post("/users")
async def create_user(request: Request, posted: Form) -> Response:
    admin = posted.admin
    admin.require_admin("users")
    values = {"email": posted.text("email"), "role": posted.text("role")}
    try:
        async with admin.db.transaction() as conn:
            await users.create_in(
                conn, admin.tenant_id, values["email"], posted.exact("password"), values["role"]
            )
    except (InvalidInput, Conflict) as exc:
        return await _page(
            request, admin, errors={exc.field or "email": exc.message}, values=values, status=exc.status
        )
    return render.redirect(request, "/users?ok=created")


@router.post("/users/{user_id}")
async def change_user(request: Request, posted: Form, user_id: str) -> Response:
    admin = posted.admin
    admin.require_admin("users")
    _check_id(user_id)
    try:
        async with admin.db.transaction() as conn:
            await users.change(
                conn,
                admin.tenant_id,
                user_id,
                role=posted.text("role"),
                disabled=posted.text("disabled") == "on",
                acting_user=admin.user.user_id,
            )
    except (InvalidInput, Conflict) as exc:
        return await _page(request, admin, errors={"users": exc.message}, status=exc.status)
    return render.redirect(request, "/users?ok=changed")


@router.post("/users/{user_id}/password")
async def set_password(request: Request, posted: Form, user_id: str) -> Response:
    admin = posted.admin
    admin.require_admin("users")
    _check_id(user_id)
    try:
        async with admin.db.transaction() as conn:
            await users.set_password(conn, admin.tenant_id, user_id, posted.exact("password"))
    except InvalidInput as exc:
        return await _page(request, admin, errors={"users": exc.message}, status=exc.status)
    return render.redirect(request, "/users?ok=password")


def _check_id(user_id: str) -> None:
    import uuid

    try:
        uuid.UUID(user_id)
    except ValueError as exc:
        raise NotFound("no such user", code="user_not_found") from exc
