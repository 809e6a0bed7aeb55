"""Campaigns (contract 8): list, create, edit, deactivate; a condition editor that checks as you
type and shows matching products; and the what-if preview on the last 30 days of receipts."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from patron import clock
from patron.campaigns import service as campaigns
from patron.campaigns.model import CampaignIn
from patron.campaigns.rules import Compiled
from patron.catalog import store as catalog
from patron.conditions import ConditionError, attributes_used, compile_condition, name_text, parse
from patron.errors import InvalidInput, NotFound
from patron.program.settings import Program
from patron.web import forms, preview, render
from patron.web import report_store as reports
from patron.web.auth import Admin, Form, Viewer

router = APIRouter()

MATCHES_SHOWN: Final = 20
NO_ATTRIBUTES: Final[dict[str, Any]] = {}
SCAN_PAGE: Final = 2000
SCAN_BUDGET: Final = 0.15  # seconds of catalog scanning per keystroke
PREVIEW_WAIT: Final = 0.1  # seconds a preview answer waits for the replay before showing progress
LOAD_SLICE: Final = 1000  # receipts whose lines are read per query
PREVIEW_KEEP: Final = 600.0  # seconds a preview is kept for its page to fetch
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


WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def when(campaign: dict[str, Any]) -> str:
    """One line that says when and for whom a campaign applies; "always" only when nothing limits it."""
    parts = []
    starts, ends = campaign.get("starts_at"), campaign.get("ends_at")
    if starts or ends:
        parts.append(f"{starts or '…'} – {ends or '…'}")
    weekdays = campaign.get("weekdays") or []
    if weekdays and len(set(weekdays)) < 7:
        parts.append(" ".join(WEEKDAY_NAMES[day - 1] for day in sorted(set(weekdays))))
    hours = campaign.get("hours") or {}
    if hours:
        parts.append(f"{hours.get('from')}–{hours.get('to')}")
    for key, label in (
        ("stores", "stores"),
        ("cities", "cities"),
        ("countries", "countries"),
        ("tiers", "tiers"),
    ):
        if campaign.get(key):
            # a city may hold a comma ("Chicago, IL"): each is quoted, as on a broadcast's page
            shown = [f"“{item}”" if key == "cities" else str(item) for item in campaign[key]]
            parts.append(f"{label}: {', '.join(shown)}")
    if campaign.get("birthday"):
        parts.append("around birthdays")
    return " · ".join(parts) or "always"


@router.get("/campaigns")
async def list_page(request: Request, admin: Viewer) -> Response:
    async with admin.db.read() as conn:
        items = await campaigns.list_all(conn, admin.tenant_id, admin.program.quantum)
    # the date where the day ends last (UTC-12): a campaign has ended once its last day is over at
    # every store (the program's zone said "ended" while stores to its west still applied it)
    today = admin.now().astimezone(clock.zone("Etc/GMT+12")).date()
    for item in items:
        item["summary"] = summary(item)
        item["when"] = when(item)
        ends = item.get("ends_at")  # an active campaign whose dates are over gives nothing: say so
        item["ended"] = bool(ends) and date.fromisoformat(str(ends)) < today
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
        campaign = await campaigns.get(conn, admin.tenant_id, campaign_id, admin.program.quantum)
    return await _form(
        request, admin, campaign_id=campaign["id"], values=forms.campaign_form_values(campaign)
    )


def _definition(posted: Form) -> tuple[CampaignIn | None, dict[str, Any], dict[str, str]]:
    """The draft from the form: (valid definition or None, the document, errors by field)."""
    document = forms.campaign_document(posted.text, posted.texts)
    if nul := forms.nul_errors(document):
        return None, document, nul
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
    try:
        async with admin.db.transaction() as conn:
            if campaign_id is None:
                saved = await campaigns.create(conn, admin.tenant_id, definition)
            else:
                saved = await campaigns.replace(conn, admin.tenant_id, campaign_id, definition)
    except InvalidInput as exc:
        values = forms.campaign_form_values(document)
        errors = {exc.field or "form": exc.message.split(": ", 1)[-1]}
        return await _form(request, admin, campaign_id=campaign_id, values=values, errors=errors, status=422)
    return render.redirect(
        request, f"/campaigns/{saved['id']}?ok={'created' if campaign_id is None else 'saved'}"
    )


@router.post("/campaigns/condition")
async def check_condition(request: Request, posted: Form, field: str = "condition") -> Response:
    """An htmx fragment: whether the condition parses (with the error's position) and which
    catalog products it selects."""
    if field not in CONDITION_FIELDS:
        field = "condition"
    typed = posted.form.get(field, "")
    typed = typed if isinstance(typed, str) else ""  # as in the field, so positions match its offsets
    text = typed.strip()
    context: dict[str, Any] = {"field": field, "text": text}
    if not text:
        return render.page(request, "_condition.html", posted.admin, empty=True, **context)
    try:
        parse(typed)
    except ConditionError as exc:
        context |= _caret(typed, exc.position)
        return render.page(request, "_condition.html", posted.admin, error=exc, **context)
    context |= await _matching_products(posted.admin, text)
    return render.page(request, "_condition.html", posted.admin, **context)


def _caret(typed: str, position: int) -> dict[str, Any]:
    """Where an error's offset falls in text of several lines: the lines up to its own, its line
    and column (1-based), and the lines after, so that the caret is drawn under the token (its
    ``pad`` keeps the line's tabs, which a browser draws wider than a space)."""
    lines = typed.split("\n")
    start = 0
    for number, line in enumerate(lines):
        if position <= start + len(line) or number == len(lines) - 1:
            return {
                "upto": "\n".join(lines[: number + 1]),
                "after": "\n".join(lines[number + 1 :]),
                "line_number": number + 1,
                "column": position - start,
                "pad": "".join("\t" if char == "\t" else " " for char in line[: position - start]),
                "lines": len(lines),
            }
        start += len(line) + 1
    raise AssertionError("unreachable: the last line ends the loop")


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
        unknown: list[str] = []
        if total and not complete and used - seen:  # a large catalog: names not seen so far, looked for
            unknown = await reports.attribute_names_no_product_has(conn, admin.tenant_id, sorted(used - seen))
        elif total and complete:
            unknown = sorted(used - seen)
    return {
        "matches": matches,
        "count": count,
        "scanned": scanned,
        "total": total,
        "complete": complete,
        "unknown": [name_text(name) for name in unknown],  # as written in a condition: `nope, really`
        "line_only": sorted(attributes_used(text) & {"price", "quantity"}),
    }


@dataclass(slots=True)
class PreviewJob:
    """A preview replaying in the background; its page polls it until it is done."""

    tenant_id: int
    user_id: str
    definition: CampaignIn
    started: float
    stop: threading.Event = field(default_factory=threading.Event)
    result: preview.Result | None = None  # set once the receipts are loaded
    task: asyncio.Task[preview.Result] | None = None


jobs: dict[str, PreviewJob] = {}
replaced: dict[str, float] = {}  # tokens of previews a newer one stopped: a late poll must not restart them


def _prune(now: float) -> None:
    for token, job in list(jobs.items()):
        if now - job.started > PREVIEW_KEEP:
            job.stop.set()
            del jobs[token]
    for token, when in list(replaced.items()):
        if now - when > PREVIEW_KEEP:
            del replaced[token]


async def _preview_page(request: Request, admin: Admin, token: str, job: PreviewJob) -> Response:
    """The finished preview, or its progress (which asks again in a second)."""
    assert job.task is not None
    if job.task.done():
        jobs.pop(token, None)
        result = job.task.result()
        return render.page(
            request, "_preview.html", admin, result=result, definition=job.definition, errors={}
        )
    return render.page(
        request,
        "_preview.html",
        admin,
        running=True,
        token=token,
        result=job.result,
        definition=job.definition,
        errors={},
    )


@router.post("/campaigns/preview")
async def preview_draft(request: Request, posted: Form) -> Response:
    """An htmx fragment: the draft replayed on the last 30 days of receipts. A broad draft on a
    busy month takes seconds (every receipt it touches goes through the optimizer), so the answer
    waits at most ``PREVIEW_WAIT`` and then shows the progress, which polls until it is done."""
    admin = posted.admin
    for token, job in list(jobs.items()):  # one preview per user: a newer draft replaces it
        if job.tenant_id == admin.tenant_id and job.user_id == admin.user.user_id:
            job.stop.set()
            del jobs[token]
            replaced[token] = time.monotonic()
    return await _start(request, posted, secrets.token_urlsafe(16))


@router.post("/campaigns/preview/{token}")
async def preview_progress(request: Request, posted: Form, token: str) -> Response:
    """The progress of a preview (posted with its draft, as the form holds it). A server process
    that does not know the preview (several processes share the port) starts it under the same
    token, so every poll ends on the figures whichever process answers it."""
    admin = posted.admin
    job = jobs.get(token)
    if token in replaced:
        raise NotFound("a newer preview replaced this one", code="preview_not_found")
    if job is None:
        return await _start(request, posted, token)
    if job.tenant_id != admin.tenant_id or job.user_id != admin.user.user_id:
        raise NotFound("no such preview", code="preview_not_found")
    return await _preview_page(request, admin, token, job)


async def _start(request: Request, posted: Form, token: str) -> Response:
    admin = posted.admin
    definition, _, errors = _definition(posted)
    if definition is None:
        return render.page(request, "_preview.html", admin, errors=errors)
    editing = posted.text("campaign_id") or None
    now = time.monotonic()
    _prune(now)
    job = PreviewJob(admin.tenant_id, admin.user.user_id, definition, now)
    job.task = asyncio.create_task(run_preview(admin, definition, editing, job))
    jobs[token] = job
    await asyncio.wait({job.task}, timeout=PREVIEW_WAIT)
    return await _preview_page(request, admin, token, job)


async def run_preview(
    admin: Admin, definition: CampaignIn, editing: str | None, job: PreviewJob | None = None
) -> preview.Result:
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
        heads_rows = await reports.receipt_heads(conn, admin.tenant_id, since, until)
        heads, wanted = await asyncio.to_thread(_heads, draft, heads_rows, program)
        # In slices, so that no single reply takes the event loop for long (a busy month is over
        # a hundred thousand lines) and other pages, and this preview's progress, keep answering.
        rows: list[tuple[str, int, str, int, Decimal]] = []
        for n in range(0, len(wanted), LOAD_SLICE):
            ids = [h.id for h in wanted[n : n + LOAD_SLICE]]
            rows += await reports.receipt_lines(conn, admin.tenant_id, ids)
        skus = sorted({row[2] for row in rows})
        catalog: dict[str, dict[str, Any]] = {}
        for n in range(0, len(skus), LOAD_SLICE * 4):
            catalog |= await reports.product_attributes(conn, admin.tenant_id, skus[n : n + LOAD_SLICE * 4])
    result = preview.Result(
        since=since,
        until=until,
        examined=len(heads),
        to_replay=len(wanted),
        point_value=program.point_value,
    )
    if job is not None:
        job.result = result
    stop = job.stop if job is not None else None
    return await asyncio.to_thread(_replay, draft, others, wanted, rows, catalog, program, result, stop)


def _heads(
    draft: Compiled, rows: list[dict[str, Any]], program: Program
) -> tuple[list[preview.PastReceipt], list[preview.PastReceipt]]:
    """The window's receipts, and those the draft's window and audience let through."""
    heads = [preview.PastReceipt(**row) for row in rows]
    return heads, [head for head in heads if preview.may_apply(draft, head, program)]


def _replay(
    draft: Compiled,
    others: list[Compiled],
    wanted: list[preview.PastReceipt],
    rows: list[tuple[str, int, str, int, Decimal]],
    catalog: dict[str, dict[str, Any]],
    program: Program,
    result: preview.Result,
    stop: threading.Event | None,
) -> preview.Result:
    """Puts each receipt's lines together and replays them (in a worker thread, so that the
    event loop keeps answering other pages meanwhile)."""
    lines: dict[str, list[preview.ReceiptLine]] = {}
    quantum = program.quantum
    prices: dict[Decimal, Decimal] = {}  # a month repeats the same few thousand prices
    for receipt_id, line, sku, quantity, price in rows:
        rounded = prices.get(price)
        if rounded is None:
            rounded = prices[price] = price.quantize(quantum)
        lines.setdefault(receipt_id, []).append(
            preview.ReceiptLine(line, sku, quantity, rounded, catalog.get(sku, NO_ATTRIBUTES))
        )
    for items in lines.values():
        items.sort(key=lambda item: item.line)
    receipts = [(head, lines.get(head.id, [])) for head in wanted]
    return preview.replay(draft, others, receipts, program, result, stop=stop)


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
        current = await campaigns.get(conn, admin.tenant_id, campaign_id, admin.program.quantum)
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
