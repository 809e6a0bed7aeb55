"""Campaigns (contract 8): list, create, edit, deactivate; a condition editor that checks as you
type and shows matching products; and the what-if preview on the last 30 days of receipts."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any, Final

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from patron.campaigns import service as campaigns
from patron.campaigns.model import CampaignIn
from patron.catalog import store as catalog
from patron.conditions import ConditionError, attributes_used, compile_condition, parse
from patron.web import forms, preview, render
from patron.web import report_store as reports
from patron.web.auth import Admin, Form, Viewer

router = APIRouter()

MATCHES_SHOWN: Final = 20
SCAN_PAGE: Final = 2000
SCAN_BUDGET: Final = 0.15  # seconds of catalog scanning per keystroke
CONDITION_FIELDS: Final = {"condition": "condition", "points_spend_condition": "points.spend_condition"}
MESSAGES: Final = {
    "created": "Campaign created.",
    "saved": "Campaign saved.",
    "deactivated": "Campaign deactivated.",
    "activated": "Campaign activated.",
    "deleted": "Campaign deleted.",
}


def summary(campaign: dict[str, Any]) -> str:
    """One line that says what a campaign gives."""
    effect = campaign.get("effect") or {}
    kind, value = effect.get("type"), effect.get("value")
    return {
        "discount_percent": f"{value}% off",
        "discount_amount": f"{value} off together",
        "fixed_price": f"unit price {value}",
        "buy_x_get_y": f"buy {effect.get('buy')} get {effect.get('get')} at {effect.get('percent') or 100}% off",
        "points_percent": f"+{value}% in points",
        "points_multiplier": f"points ×{value}",
        "points_fixed": f"+{value} points",
    }.get(str(kind), str(kind))


@router.get("/campaigns")
async def list_page(request: Request, admin: Viewer) -> Response:
    async with admin.db.read() as conn:
        items = await campaigns.list_all(conn, admin.tenant_id)
    for item in items:
        item["summary"] = summary(item)
    return render.page(
        request, "campaigns.html", admin, campaigns=items, ok=MESSAGES.get(request.query_params.get("ok", ""))
    )


async def _form(
    request: Request,
    admin: Admin,
    *,
    campaign_id: str | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with admin.db.read() as conn:
        stores = await catalog.list_stores(conn, admin.tenant_id)
    return render.page(
        request,
        "campaign_form.html",
        admin,
        status_code=status,
        campaign_id=campaign_id,
        values=values,
        errors=errors or {},
        stores=stores,
        tiers=admin.program.effective_tiers,
        effect_types=forms.EFFECT_TYPES,
        stacking=forms.STACKING,
        weekdays=forms.WEEKDAYS,
        ok=MESSAGES.get(request.query_params.get("ok", "")),
    )


@router.get("/campaigns/new")
async def new_form(request: Request, admin: Viewer) -> Response:
    return await _form(request, admin, campaign_id=None, values=forms.empty_campaign_form())


@router.get("/campaigns/{campaign_id}")
async def edit_form(request: Request, admin: Viewer, campaign_id: str) -> Response:
    async with admin.db.read() as conn:
        campaign = await campaigns.get(conn, admin.tenant_id, campaign_id)
    return await _form(
        request, admin, campaign_id=campaign["id"], values=forms.campaign_form_values(campaign)
    )


def _definition(posted: Form) -> tuple[CampaignIn | None, dict[str, Any], dict[str, str]]:
    """The draft from the form: (valid definition or None, the document, errors by field)."""
    document = forms.campaign_document(posted.text, posted.texts)
    try:
        return CampaignIn.model_validate(document), document, {}
    except ValidationError as exc:
        return None, document, forms.errors_by_field(exc)


async def _save(request: Request, posted: Form, campaign_id: str | None) -> Response:
    admin = posted.admin
    admin.require_admin("campaigns")
    definition, document, errors = _definition(posted)
    if definition is None:
        values = forms.campaign_form_values(document)
        return await _form(request, admin, campaign_id=campaign_id, values=values, errors=errors, status=422)
    async with admin.db.transaction() as conn:
        if campaign_id is None:
            saved = await campaigns.create(conn, admin.tenant_id, definition)
        else:
            saved = await campaigns.replace(conn, admin.tenant_id, campaign_id, definition)
    return render.redirect(
        request, f"/campaigns/{saved['id']}?ok={'created' if campaign_id is None else 'saved'}"
    )


@router.post("/campaigns/condition")
async def check_condition(request: Request, posted: Form, field: str = "condition") -> Response:
    """An htmx fragment: whether the condition parses (with the error's position) and which
    catalog products it selects."""
    if field not in CONDITION_FIELDS:
        field = "condition"
    text = posted.text(field)
    context: dict[str, Any] = {"field": field, "text": text}
    if not text:
        return render.page(request, "_condition.html", posted.admin, empty=True, **context)
    try:
        parse(text)
    except ConditionError as exc:
        return render.page(request, "_condition.html", posted.admin, error=exc, **context)
    context |= await _matching_products(posted.admin, text)
    return render.page(request, "_condition.html", posted.admin, **context)


async def _matching_products(admin: Admin, text: str) -> dict[str, Any]:
    """Scans the catalog in pages for up to ``SCAN_BUDGET`` seconds: the first matches, how many
    matched, whether the whole catalog was seen, and attribute names it never saw."""
    predicate = compile_condition(text)
    used = attributes_used(text) - {"sku", "price", "quantity"}
    matches: list[dict[str, Any]] = []
    count = scanned = 0
    seen: set[str] = set()
    after: str | None = None
    complete = False
    deadline = time.perf_counter() + SCAN_BUDGET
    async with admin.db.read() as conn:
        total = await reports.product_count(conn, admin.tenant_id)
        while time.perf_counter() < deadline:
            page = await reports.products_after(conn, admin.tenant_id, after, SCAN_PAGE)
            for product in page:
                attributes = product["attributes"]
                seen.update(attributes)
                if predicate({**attributes, "sku": product["sku"]}):
                    count += 1
                    if len(matches) < MATCHES_SHOWN:
                        matches.append(product)
            scanned += len(page)
            if len(page) < SCAN_PAGE:
                complete = True
                break
            after = page[-1]["sku"]
    return {
        "matches": matches,
        "count": count,
        "scanned": scanned,
        "total": total,
        "complete": complete,
        "unknown": sorted(used - seen) if complete and total else [],
        "line_only": sorted(attributes_used(text) & {"price", "quantity"}),
    }


@router.post("/campaigns/preview")
async def preview_draft(request: Request, posted: Form) -> Response:
    """An htmx fragment: the draft replayed on the last 30 days of receipts."""
    admin = posted.admin
    definition, _, errors = _definition(posted)
    if definition is None:
        return render.page(request, "_preview.html", admin, errors=errors)
    editing = posted.text("campaign_id") or None
    result = await run_preview(admin, definition, editing)
    return render.page(request, "_preview.html", admin, result=result, definition=definition, errors={})


async def run_preview(admin: Admin, definition: CampaignIn, editing: str | None) -> preview.Result:
    """Loads the window's receipts and replays them (in a thread: it is pure CPU work)."""
    program = admin.program
    draft = preview.draft_for_replay(definition)
    async with admin.db.read() as conn:
        latest = await reports.latest_receipt_at(conn, admin.tenant_id)
        now = admin.now()
        until = (
            now
            if latest is None or latest > now - timedelta(days=preview.DAYS)
            else latest + timedelta(microseconds=1)
        )
        since = until - timedelta(days=preview.DAYS)
        others = [c for c in await campaigns.load_compiled(conn, admin.tenant_id) if c.id != editing]
        heads = [
            preview.PastReceipt(**row)
            for row in await reports.receipt_heads(conn, admin.tenant_id, since, until)
        ]
        wanted = [head for head in heads if preview.may_apply(draft, head, program)]
        rows = await reports.receipt_lines_with_attributes(conn, admin.tenant_id, [h.id for h in wanted])
    lines: dict[str, list[preview.ReceiptLine]] = {}
    quantum = program.quantum
    for row in rows:
        lines.setdefault(row["receipt_id"], []).append(
            preview.ReceiptLine(
                row["line"], row["sku"], row["quantity"], row["price"].quantize(quantum), row["attributes"]
            )
        )
    result = preview.Result(since=since, until=until, examined=len(heads), point_value=program.point_value)
    receipts = [(head, lines.get(head.id, [])) for head in wanted]
    return await asyncio.to_thread(preview.replay, draft, others, receipts, program, result)


@router.post("/campaigns")
async def create(request: Request, posted: Form) -> Response:
    return await _save(request, posted, None)


@router.post("/campaigns/{campaign_id}")
async def update(request: Request, posted: Form, campaign_id: str) -> Response:
    return await _save(request, posted, campaigns.campaign_uuid(campaign_id))


@router.post("/campaigns/{campaign_id}/active")
async def set_active(request: Request, posted: Form, campaign_id: str) -> Response:
    """Deactivates (or activates again) a campaign: the same definition with ``active`` changed."""
    admin = posted.admin
    admin.require_admin("campaigns")
    active = posted.text("active") == "true"
    async with admin.db.transaction() as conn:
        current = await campaigns.get(conn, admin.tenant_id, campaign_id)
        document = {k: v for k, v in current.items() if k in CampaignIn.model_fields}
        definition = CampaignIn.model_validate({**document, "active": active})
        await campaigns.replace(conn, admin.tenant_id, current["id"], definition)
    return render.redirect(request, f"/campaigns?ok={'activated' if active else 'deactivated'}")


@router.post("/campaigns/{campaign_id}/delete")
async def delete(request: Request, posted: Form, campaign_id: str) -> Response:
    admin = posted.admin
    admin.require_admin("campaigns")
    async with admin.db.transaction() as conn:
        await campaigns.delete(conn, admin.tenant_id, campaign_id)
    return render.redirect(request, "/campaigns?ok=deleted")
