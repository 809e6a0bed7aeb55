"""Members: search, a member's page (balance, lots, receipts, returns, history) and adjustments."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import phonenumbers
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from patron import clock
from patron.checkout import service as checkout
from patron.conditions import ConditionError
from patron.conditions import validate as validate_condition
from patron.errors import InvalidInput, NotFound, PatronError
from patron.ledger import service as ledger
from patron.ledger import store as ledger_store
from patron.members import service as members
from patron.web import forms, members_view, render
from patron.web import report_store as reports
from patron.web.auth import Admin, Form, Viewer

router = APIRouter()
SEARCH_LIMIT = 50
HISTORY_PAGE = 50
LIST_PAGE = 50  # receipts and returns shown at a time on a member's page
REPEAT_WINDOW = timedelta(minutes=10)  # an adjustment repeated within it asks to be confirmed


@router.get("/members")
async def search(request: Request, admin: Viewer, q: str = "") -> Response:
    query = members_view.read_query(q, admin.program.phone_region)
    exact: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    async with admin.db.read() as conn:
        if query.text:
            for kind in ("phone", "email", "card"):
                value = getattr(query, kind)
                if value is None:
                    continue
                try:
                    exact.append(await members.find(conn, admin.tenant_id, admin.program, **{kind: value}))
                except (NotFound, InvalidInput):
                    continue
            if len(exact) == 1:
                return render.redirect(request, f"/members/{exact[0]['id']}")
            known = {m["id"] for m in exact}
            national = (
                None if query.national is None else (query.national.country_code, query.national.digits)
            )
            found = [
                m
                for m in await reports.search_members(
                    conn, admin.tenant_id, query.text, SEARCH_LIMIT, national=national
                )
                if m["id"] not in known
            ]
        else:
            found = await reports.recent_members(conn, admin.tenant_id, 20)
    return render.page(
        request,
        "members.html",
        admin,
        q=query.text,
        results=exact + found,
        searched=bool(query.text),
        capped=SEARCH_LIMIT if query.text and len(found) >= SEARCH_LIMIT else None,
        phone_examples=phone_examples(admin.program.phone_region),
    )


def phone_examples(region: str | None) -> tuple[str, str] | None:
    """One number of the program's country, written as people there do and in E.164 (the hint
    gave Russian numbers to a US program, which found no one)."""
    if region is None:
        return None
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if number is None:
        return None
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return national, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


async def _member_page(
    request: Request,
    admin: Admin,
    member_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
    ok: str | None = None,
) -> Response:
    mid = members.member_id(member_id)
    now = admin.now()
    async with admin.db.read() as conn:
        member = await members.get(conn, admin.tenant_id, mid)
        balance = await ledger_store.balance(conn, admin.tenant_id, mid, now, now, admin.program.timezone)
        lots = await ledger_store.lots(conn, admin.tenant_id, mid)
        history = await ledger_store.history(conn, admin.tenant_id, mid, HISTORY_PAGE, None)
        counts = await reports.member_counts(conn, admin.tenant_id, mid)
        pages = {name: _page_start(request, name, counts[name]) for name in ("receipts", "returns")}
        receipts = await reports.member_receipts(conn, admin.tenant_id, mid, LIST_PAGE, pages["receipts"])
        returns = await reports.member_returns(conn, admin.tenant_id, mid, LIST_PAGE, pages["returns"])
    for lot in lots:
        lot["state"] = members_view.lot_state(lot, now)
    form = {"key": str(uuid.uuid4()), "points": "", "reason": "", "valid_days": "", "spend_condition": ""}
    form |= values or {}
    return render.page(
        request,
        "member.html",
        admin,
        status_code=status,
        member=member,
        balance=balance,
        lots=lots,
        lot_chart=members_view.lot_chart(lots, now) if lots else None,
        chart_height=max(140, 24 * min(len(lots), members_view.LOT_CHART_LIMIT) + 60),
        history=history,
        history_next=history[-1]["id"] if len(history) == HISTORY_PAGE else None,
        receipts=receipts,
        returns=returns,
        counts=counts,
        pages=pages,
        list_page=LIST_PAGE,
        form=form,
        errors=errors or {},
        ok=ok or _ok(request),
    )


def _page_start(request: Request, name: str, count: int) -> int:
    """Where a list of the member page starts (``?receipts=50``): a multiple of the page, within it."""
    try:
        start = int(request.query_params.get(name, "0"))
    except ValueError:
        start = 0
    last = max(count - 1, 0) // LIST_PAGE * LIST_PAGE
    return min(max(start, 0) // LIST_PAGE * LIST_PAGE, last)


def _ok(request: Request) -> str | None:
    return {"adjusted": "Points adjusted."}.get(request.query_params.get("ok", ""))


@router.get("/members/{member_id}")
async def member_page(request: Request, admin: Viewer, member_id: str) -> Response:
    return await _member_page(request, admin, member_id)


@router.get("/members/{member_id}/history")
async def member_history(
    request: Request, admin: Viewer, member_id: str, before: int = Query(..., ge=1)
) -> Response:
    """The next page of the ledger history (an htmx fragment)."""
    mid = members.member_id(member_id)
    async with admin.db.read() as conn:
        await members.get(conn, admin.tenant_id, mid)
        history = await ledger_store.history(conn, admin.tenant_id, mid, HISTORY_PAGE, before)
    return render.page(
        request,
        "_history_rows.html",
        admin,
        member={"id": mid},
        history=history,
        history_next=history[-1]["id"] if len(history) == HISTORY_PAGE else None,
    )


def _adjustment(posted: Form) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's fields as ``ledger.adjust`` takes them, or the errors to show by field."""
    errors: dict[str, str] = {}
    key = posted.text("key")
    if not key or len(key) > 200:
        errors["key"] = "the form had no key; submit it again"
    # ASCII digits with an optional sign, as the API reads them: int() took "1_000" and "５" too
    points = forms.int_or_text(posted.text("points"))
    if not isinstance(points, int) or points == 0 or abs(points) > 1_000_000_000:
        errors["points"] = (
            "a whole number of points, not zero, at most 1,000,000,000 either way: negative takes points away"
        )
        points = 0
    reason = posted.text("reason")
    if not reason or len(reason) > 500:
        errors["reason"] = "say why (at most 500 characters)"
    errors |= forms.nul_errors({"reason": reason, "spend_condition": posted.text("spend_condition")})
    valid_days: int | None = None
    if posted.text("valid_days"):
        days = forms.int_or_text(posted.text("valid_days"))
        if isinstance(days, int) and 0 < days <= 36500:
            valid_days = days
        else:
            errors["valid_days"] = "a number of days from 1 to 36500"
    condition = posted.text("spend_condition") or None
    if condition is not None:
        try:
            validate_condition(condition)
        except ConditionError as exc:
            errors["spend_condition"] = str(exc)
    if points < 0 and (valid_days is not None or condition is not None):
        errors["valid_days"] = "validity and spend condition apply to credits only"
    fields = {
        "key": key,
        "points": points,
        "reason": reason,
        "valid_days": valid_days,
        "spend_condition": condition,
    }
    return fields, errors


@router.post("/members/{member_id}/adjustments")
async def adjust(request: Request, posted: Form, member_id: str) -> Response:
    """A manual credit or debit through the same use case as the API; the form's key makes a
    double submit harmless."""
    admin = posted.admin
    mid = members.member_id(member_id)
    fields, errors = _adjustment(posted)
    values = {k: posted.text(k) for k in ("key", "points", "reason", "valid_days", "spend_condition")}
    status = 422
    if not errors and posted.text("repeat") != "on":
        async with admin.db.read() as conn:
            made = await ledger_store.recent_same_adjustment(
                conn, admin.tenant_id, mid, fields["key"], fields["points"], fields["reason"], REPEAT_WINDOW
            )
        if made is not None:
            # The page after the browser's Back has a new key, and the browser refills the form.
            local = made.astimezone(clock.zone(admin.program.timezone))  # as the history lists it
            errors["repeat"] = (
                f"the same adjustment was made at {local:%H:%M:%S} ({admin.program.timezone}):"
                " tick the box to make another"
            )
            status = 409
    if not errors:
        try:
            async with admin.db.transaction() as conn:
                await ledger.adjust(conn, admin.tenant_id, admin.program, mid, now=admin.now(), **fields)
        except NotFound:
            raise
        except PatronError as exc:  # not enough points (409)
            errors[exc.field or "points"] = exc.message.removeprefix(f"{exc.field}: ")
            status = exc.status
    if errors:
        values["key"] = str(uuid.uuid4())  # nothing was recorded under the old key; a retry is new
        return await _member_page(request, admin, mid, errors=errors, values=values, status=status)
    return render.redirect(request, f"/members/{mid}?ok=adjusted")


@router.get("/receipts/{receipt_id}")
async def receipt_page(request: Request, admin: Viewer, receipt_id: str) -> Response:
    result = await checkout.get(admin.caller(), receipt_id)
    async with admin.db.read() as conn:
        returns = await reports.receipt_returns(conn, admin.tenant_id, checkout.receipt_uuid(receipt_id))
    return render.page(request, "receipt.html", admin, receipt=result, returns=returns)
