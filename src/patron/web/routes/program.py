"""Program settings (contract 3), changed as ``PUT /v1/program`` changes them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from patron.errors import PatronError
from patron.program.settings import Program
from patron.tenants import service as tenant_service
from patron.tenants import store as tenants
from patron.web import forms, render
from patron.web.auth import Form, Viewer

router = APIRouter()


def _page(
    request: Request, admin: Any, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    return render.page(
        request,
        "program.html",
        admin,
        status_code=status,
        values=values,
        errors=errors,
        ok="Program saved." if request.query_params.get("ok") == "saved" else None,
    )


@router.get("/program")
async def program_page(request: Request, admin: Viewer) -> Response:
    return _page(request, admin, forms.program_form_values(admin.program.to_json()), {})


@router.post("/program")
async def save_program(request: Request, posted: Form) -> Response:
    admin = posted.admin
    admin.require_admin("the program")
    document = forms.program_document(posted.text, posted.texts)
    blanks = forms.program_blanks(posted.text) | forms.nul_errors(document)
    if blanks:
        return _page(request, admin, forms.program_form_values(document, 0), blanks, 422)
    try:
        program = Program.model_validate(document)
    except ValidationError as exc:
        return _page(request, admin, forms.program_form_values(document, 0), forms.errors_by_field(exc), 422)
    try:
        async with admin.db.transaction() as conn:
            current = await tenants.lock_settings(conn, admin.tenant_id)
            await tenant_service.save_program(conn, admin.tenant_id, program, current)
    except PatronError as exc:
        errors = {exc.field or "form": exc.message.split(": ", 1)[-1]}
        return _page(request, admin, forms.program_form_values(document, 0), errors, exc.status)
    return render.redirect(request, "/program?ok=saved")
