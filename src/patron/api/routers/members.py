"""Members, their cards, balances, lots, history and manual adjustments (contract 5)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from patron import fields
from patron.api.deps import AdminKey, AnyKey, Ctx
from patron.api.routing import JsonBodyRoute
from patron.checkout.model import EARLIEST
from patron.conditions import ConditionError
from patron.conditions import validate as validate_condition
from patron.errors import InvalidInput, NotFound
from patron.fields import MAX_POINTS, WholeNumber
from patron.ledger import service as ledger
from patron.ledger import store as ledger_store
from patron.members import service
from patron.members.model import CardIn, MemberIn, MemberPatch

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/members", tags=["members"])


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"key": "crm-4711", "points": 500, "reason": "apology for a late delivery", "valid_days": 30}
            ]
        },
    )

    key: str = Field(min_length=1, max_length=200, description="idempotency key: a repeat answers the same")
    points: WholeNumber = Field(
        ge=-MAX_POINTS,
        le=MAX_POINTS,
        description="> 0: a new lot; < 0: taken like a spend, soonest expiry first",
    )
    reason: str = Field(min_length=1, max_length=500)
    valid_days: WholeNumber | None = Field(None, gt=0, le=36500)
    spend_condition: str | None = Field(None, max_length=2000)

    @field_validator("key", "reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank: spaces alone say nothing")
        return value

    @field_validator("points")
    @classmethod
    def _points(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must be a non-zero number of points")
        if abs(value) > 1_000_000_000:
            raise ValueError("at most 1,000,000,000 points either way in one adjustment")
        return value


def _condition(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        validate_condition(text)
    except ConditionError as exc:
        raise InvalidInput(
            f"spend_condition: {exc}", code="invalid_condition", field="spend_condition"
        ) from exc
    return text


def _aware(at: str) -> datetime:
    """``at`` as contract 2 writes a time: RFC 3339 with an offset (not Unix seconds, not naive)."""
    try:
        moment = fields.parse_moment(at)  # as the basket's `at` is read
    except ValueError:
        hint = fields.MOMENT_HINT
        if re.search(r"\d \d\d:?\d\d$", at.strip()):  # "+03:00" unencoded in a query arrives as " 03:00"
            hint += "; in a URL, write its + as %2B"
        raise InvalidInput(f"at: {hint}", field="at") from None
    if moment < EARLIEST:
        raise InvalidInput(f"at: not before {EARLIEST.date()}", field="at")
    return moment


@router.post(
    "",
    status_code=201,
    summary="Create a member",
    description="Any key. 201 with the member: `id`, `phone` (E.164), `email`, `name`, `birthday`, `city`, "
    "`cards`, `consents` (both false unless given), `created_at`. A phone without `+` is read in the "
    "program's `country` (if none, in the country of its `timezone`, so Europe/Moscow reads `8 900 ...` as Russian). 409 `phone_taken`, `email_taken` (case ignored) or `card_taken`; 422 "
    "`invalid_phone`, or `invalid_input` (cards of 1 to 64 characters without spaces, each once; a "
    "`birthday` from 1900 to today's date in the program's time zone, as for a `PATCH`). Not "
    "idempotent: a till that retries gets 409 `phone_taken` and can find the member by phone.",
    responses={409: {"description": "`phone_taken`, `email_taken` or `card_taken`"}},
)
async def create_member(body: MemberIn, ctx: AnyKey) -> dict[str, Any]:
    async with ctx.db.transaction() as conn:
        return await service.create(conn, ctx.tenant_id, ctx.program, body, ctx.now())


@router.get(
    "",
    summary="Find a member by phone (any format), card or email",
    description="Any key. Give exactly one of `phone`, `card` or `email` (else 422; one given empty, as a "
    "scanner that read nothing sends `?card=`, is a 422 naming it). The phone is "
    "normalised as on creation (write its `+` as `%2B` in the query); email ignores case. 200 with the member (not a list); 404 `member_not_found`; "
    "422 `invalid_phone` for a number that cannot be a phone, and for one that begins with a space and a "
    "digit (a bare `+` reads as a space: the number would be read as a national one and not found).",
    responses={404: {"description": "`member_not_found`"}},
)
async def find_member(
    ctx: AnyKey,
    phone: str | None = Query(None, examples=["8 (900) 123-45-67"]),
    card: str | None = None,
    email: str | None = None,
) -> dict[str, Any]:
    if phone is not None and re.match(r"\s+[0-9]", phone):
        # "+49..." unencoded in a query arrives as " 49...", read as a national number: a 404 for a
        # member who exists, then a 409 phone_taken when the till creates them (as ?at= says)
        raise InvalidInput(
            "phone: begins with a space; in a URL, write its + as %2B", code="invalid_phone", field="phone"
        )
    async with ctx.db.read() as conn:
        return await service.find(conn, ctx.tenant_id, ctx.program, phone=phone, card=card, email=email)


@router.get(
    "/{member_id}",
    summary="A member",
    description="Any key. 404 `member_not_found`, also for an id that is not a UUID. The member's tier is "
    "not part of it: each receipt's result carries the tier it was computed with.",
)
async def get_member(member_id: str, ctx: AnyKey) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        return await service.get(conn, ctx.tenant_id, member_id)


def _member_turn(ctx: Ctx, member_id: str) -> tuple[object, ...] | None:
    """The key under which this process changes one member at a time (``Database.transaction``):
    an id that cannot exist is answered 404 inside."""
    try:
        return ("member", ctx.tenant_id, "id", service.member_id(member_id))
    except NotFound:
        return None


_BUSY_503 = {
    "description": "`busy`: other requests held this member too long (or every database connection stayed in "
    "use); nothing was recorded: send it again after `Retry-After` seconds"
}


@router.patch(
    "/{member_id}",
    summary="Change a member's fields (admin)",
    description="Only the fields given change; `null` clears an optional field (`phone` and `consents` "
    'cannot be null: 422). `consents` changes the flags given and keeps the other (`{"email": false}` '
    "keeps the SMS consent). `cards` "
    "attaches the cards listed and keeps the member's others. A phone, email or card of another member: "
    "409 `phone_taken`, `email_taken` or `card_taken`, and nothing changes. 404 `member_not_found`.",
    responses={503: _BUSY_503},
)
async def patch_member(member_id: str, body: MemberPatch, ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.transaction(serial=_member_turn(ctx, member_id)) as conn:
        return await service.patch(conn, ctx.tenant_id, ctx.program, member_id, body, ctx.now())


@router.post(
    "/{member_id}/cards",
    status_code=201,
    summary="Attach a card (admin)",
    description="Answers 201 with the member and all its cards. A card the member holds already is no change "
    "(also 201): a retry is safe. 409 `card_taken` when another member holds it; 404 `member_not_found`.",
    responses={503: _BUSY_503},
)
async def add_card(member_id: str, body: CardIn, ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.transaction(serial=_member_turn(ctx, member_id)) as conn:
        return await service.add_card(conn, ctx.tenant_id, member_id, body.card)


@router.get(
    "/{member_id}/balance",
    summary="Available, pending, debt and expiring points at a moment",
    description="Any key. `at` (default: now; RFC 3339 with an offset, else 422; write `+` as `%2B`) is "
    "echoed in the answer. A past `at` rebuilds the balance from the movements of that moment, each "
    "counted at its own time (a receipt at its `at`), debt included; a future `at` shows how today's lots "
    "stand then (pending ones that become available, expired ones gone). `expiring` dates are local to the "
    "store whose receipt earned the lot, else to the program. 404 `member_not_found`.",
)
async def balance(
    member_id: str, ctx: AnyKey, at: str | None = Query(None, description="RFC 3339 with an offset")
) -> dict[str, Any]:
    mid = service.member_id(member_id)
    now = ctx.now()  # read once: a second reading is later, and would make `now` a moment past
    moment = now if at is None else _aware(at)
    async with ctx.db.read() as conn:
        result = await ledger_store.balance(conn, ctx.tenant_id, mid, moment, now, ctx.program.timezone)
    return {**result, "at": moment}


@router.get(
    "/{member_id}/lots",
    summary="Every credit of points with what is left of it",
    description="Any key. A list (not paginated), soonest expiry first, spent and expired lots included: "
    "`id`, `points`, `remaining`, `kind` (`earn`, `campaign`, `adjustment`, `birthday` ...), "
    '`available_from`, `expires_at`, `spend_condition`, `source` (e.g. `{"receipt": id}`), `created_at`. '
    "404 `member_not_found`.",
)
async def lots(member_id: str, ctx: AnyKey) -> list[dict[str, Any]]:
    mid = service.member_id(member_id)
    async with ctx.db.read() as conn:
        await service.get(conn, ctx.tenant_id, mid)
        return await ledger_store.lots(conn, ctx.tenant_id, mid)


@router.get(
    "/{member_id}/history",
    summary="Ledger entries, newest first; pass `next` as `before`",
    description='Any key. `{"items": [...], "next": id}`, newest first by `at`, when each '
    "entry counts (a receipt an offline till sent late, or imported history, takes its place in time; "
    "`created_at` says when it was recorded), then by `id`. `limit` 1 to 500, "
    "default 50. `next` is the last entry's `id` when the page is full, else null: pass it as `before` "
    "for the next page (which may be empty). Entries have `id`, `kind`, `points`, `debt`, `at`, "
    "`created_at`, `receipt_id`, `operation`, `key`, `reason`. 404 `member_not_found`; 422 for a `before` "
    "that is not an entry of this member.",
)
async def history(
    member_id: str,
    ctx: AnyKey,
    limit: int = Query(50, ge=1, le=500),
    before: int | None = Query(None, ge=1, le=2**63 - 1, description="the `next` of the previous page"),
) -> dict[str, Any]:
    mid = service.member_id(member_id)
    async with ctx.db.read() as conn:
        await service.get(conn, ctx.tenant_id, mid)
        if before is not None and not await ledger_store.has_entry(conn, ctx.tenant_id, mid, before):
            # a cursor of another member's history, or made up, read as "no more" to a client
            raise InvalidInput(
                "before: not an entry of this member's history (pass a page's `next`)", field="before"
            )
        items = await ledger_store.history(conn, ctx.tenant_id, mid, limit, before)
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


@router.post(
    "/{member_id}/adjustments",
    status_code=201,
    summary="A manual credit or debit (admin)",
    description="201 with the result, `balance` included. The same `key` for this member again answers 200 "
    "with the first result and changes nothing, whatever else a valid body says. A credit is a lot "
    "available at once, expiring at the program's local midnight `valid_days` (default `points_valid_days`) "
    "days on; it pays any debt first (`debt_paid`). A debit takes the soonest-expiring points: 409 "
    "`insufficient_points` if fewer are available; 422 with `valid_days` or `spend_condition`. 422 "
    "`invalid_condition` for a condition that does not parse; 404 `member_not_found`.",
    responses={
        200: {"description": "the same `key` again: the first result"},
        409: {"description": "`insufficient_points` for a debit"},
        503: _BUSY_503,
    },
)
async def adjust(member_id: str, body: AdjustmentIn, ctx: AdminKey, response: Response) -> dict[str, Any]:
    mid = service.member_id(member_id)
    async with ctx.db.transaction(serial=_member_turn(ctx, mid)) as conn:
        result, created = await ledger.adjust(
            conn,
            ctx.tenant_id,
            ctx.program,
            mid,
            key=body.key,
            points=body.points,
            reason=body.reason,
            valid_days=body.valid_days,
            spend_condition=_condition(body.spend_condition),
            now=ctx.now(),
        )
    if not created:
        response.status_code = 200
    return result
