"""Webhooks (contract 10): subscribe, stop, and each one's delivery log."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from patron.backoffice import service
from patron.backoffice.model import WebhookIn
from patron.backoffice.outbox import EVENT_TYPES
from patron.web import forms, render
from patron.web.auth import Admin, Form, Viewer

router = APIRouter()
DELIVERY_PAGE: Final = 50


async def _page(
    request: Request,
    admin: Admin,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, object] | None = None,
    status: int = 200,
) -> Response:
    async with admin.db.read() as conn:
        hooks = await service.list_webhooks(conn, admin.tenant_id)
    ok = {"created": "Webhook created.", "deleted": "Webhook stopped."}.get(
        request.query_params.get("ok", "")
    )
    return render.page(
        request,
        "webhooks.html",
        admin,
        status_code=status,
        webhooks=hooks,
        events=EVENT_TYPES,
        errors=errors or {},
        values=values or {"url": "", "events": []},
        ok=ok,
    )


@router.get("/webhooks")
async def webhooks_page(request: Request, admin: Viewer) -> Response:
    return await _page(request, admin)


@router.post("/webhooks")
async def create_webhook(request: Request, posted: Form) -> Response:
    admin = posted.admin
    admin.require_admin("webhooks")
    values: dict[str, object] = {"url": posted.text("url"), "events": posted.texts("events")}
    if nul := forms.nul_errors({**values, "secret": posted.text("secret")}):
        return await _page(request, admin, errors=nul, values=values, status=422)
    try:
        body = WebhookIn.model_validate({**values, "secret": posted.text("secret")})
    except ValidationError as exc:
        return await _page(request, admin, errors=forms.errors_by_field(exc), values=values, status=422)
    async with admin.db.transaction() as conn:
        made = await service.create_webhook(conn, admin.tenant_id, body)
    return render.redirect(request, f"/webhooks/{made['id']}?ok=created")


@router.get("/webhooks/{webhook_id}")
async def webhook_page(
    request: Request, admin: Viewer, webhook_id: str, before: int | None = Query(None, ge=1)
) -> Response:
    async with admin.db.read() as conn:
        hook = await service.get_webhook(conn, admin.tenant_id, webhook_id)
        log = await service.deliveries(conn, admin.tenant_id, webhook_id, DELIVERY_PAGE, before)
    ok = "Webhook created." if request.query_params.get("ok") == "created" else None
    return render.page(request, "webhook.html", admin, webhook=hook, log=log, ok=ok)


@router.post("/webhooks/{webhook_id}/delete")
async def delete_webhook(request: Request, posted: Form, webhook_id: str) -> Response:
    admin = posted.admin
    admin.require_admin("webhooks")
    async with admin.db.transaction() as conn:
        await service.delete_webhook(conn, admin.tenant_id, webhook_id, admin.now())
    return render.redirect(request, "/webhooks?ok=deleted")
