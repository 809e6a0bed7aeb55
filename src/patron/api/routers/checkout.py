"""Checkout: quote, receipts, returns, cancellations (contract 7)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from patron.api import deps
from patron.api.deps import AnyKey, Ctx
from patron.api.responses import JSONResponse
from patron.api.routing import JsonBodyRoute
from patron.checkout import returning, service
from patron.checkout import store as checkout_store
from patron.checkout.model import Basket, ReceiptIn, ReturnIn

STALE_ATTEMPTS = 3  # times a receipt is worked out when the tenant changed under it

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1", tags=["checkout"])

RESULT_EXAMPLE = {
    "id": "5f0c6c1e-8a51-4a43-a7c4-0c3f0b1a2d3e",
    "status": "confirmed",
    "store": "S001",
    "number": "R-1",
    "at": "2026-12-05T12:00:00+03:00",
    "member": {"id": "0b7e...", "tier": "silver"},
    "lines": [
        {
            "line": 1,
            "sku": "A1",
            "quantity": 2,
            "amount": "99.80",
            "discount": "0.00",
            "points_spent": 20,
            "paid": "79.80",
            "points_earned": 3,
            "campaigns": [],
            "returned_quantity": 0,
        }
    ],
    "totals": {
        "amount": "99.80",
        "discount": "0.00",
        "points_spent": 20,
        "points_spent_value": "20.00",
        "paid": "79.80",
        "points_earned": 3,
    },
    "balance": {"before": 100, "after": 80},
    "campaigns": [],
    "optimal": True,
}
QUOTE_EXAMPLE = {**RESULT_EXAMPLE, "id": None, "status": "quote", "number": None}

_MONEY = {"type": "string", "pattern": "^-?[0-9]+([.][0-9]+)?$", "description": "decimal text, e.g. `49.90`"}
_POINTS = {"type": "integer"}


def _object(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    required = [name for name in properties if name not in optional]
    return {"type": "object", "required": required, "properties": properties}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


# The result's shape (contract 7), kept true by tests/integration/test_openapi_answers.py, which
# checks real answers against it. Fields may be added (the contract allows it), so more are taken.
RESULT_SCHEMA = _object(
    {
        "id": _or_null({"type": "string", "format": "uuid", "description": "null for a quote"}),
        "status": {"enum": ["quote", "confirmed", "partially_returned", "returned", "cancelled"]},
        "store": {"type": "string"},
        "number": _or_null({"type": "string", "description": "the receipt's number; null for a quote"}),
        "at": {"type": "string", "format": "date-time"},
        "member": _or_null(
            _object({"id": {"type": "string", "format": "uuid"}, "tier": _or_null({"type": "string"})})
        ),
        "lines": {
            "type": "array",
            "items": _object(
                {
                    "line": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "1-based position in the request",
                    },
                    "sku": {"type": "string"},
                    "quantity": {"type": "integer"},
                    "amount": _MONEY,
                    "discount": _MONEY,
                    "points_spent": _POINTS,
                    "paid": _MONEY,
                    "points_earned": _POINTS,
                    "campaigns": {"type": "array", "items": {"type": "string", "format": "uuid"}},
                    "returned_quantity": {"type": "integer"},
                }
            ),
        },
        "totals": _object(
            {
                "amount": _MONEY,
                "discount": _MONEY,
                "points_spent": _POINTS,
                "points_spent_value": _MONEY,
                "paid": _MONEY,
                "points_earned": _POINTS,
            }
        ),
        "balance": _or_null(_object({"before": _POINTS, "after": _POINTS})),
        "campaigns": {
            "type": "array",
            "items": _object(
                {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}, "discount": _MONEY}
                | {"points": _POINTS}
            ),
        },
        "optimal": {"type": "boolean"},
        "imported": {
            "type": "boolean",
            "description": "present and true for a receipt `patron import` loaded",
        },
    },
    optional=("imported",),
)


# A return's or a cancellation's answer (contract 7), checked against real answers as the result is.
RETURN_SCHEMA = _object(
    {
        "number": {"type": "string", "description": "the return's number (`#cancel` for a cancellation)"},
        "refund": _MONEY,
        "points_refunded": _POINTS,
        "points_kept_back": {
            **_POINTS,
            "description": "of `points_refunded`, kept back to settle an earlier return's shortfall",
        },
        "points_reversed": _POINTS,
        "shortfall": _POINTS,
        "withhold": _MONEY,
        "receipt": RESULT_SCHEMA,
    }
)


def _result(description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": RESULT_SCHEMA, "example": example}},
    }


_RESULT = _result(
    "The evaluated receipt (contract 7). `member` and `balance` are null for an anonymous basket.",
    RESULT_EXAMPLE,
)
_BASKET_404 = {"description": "`member_not_found`: no member matches `member` (or its `id` is not a UUID)"}
_BASKET_422 = {
    "description": "bad input: `unknown_store`; `at_in_future` (more than 5 minutes ahead); `invalid_price` "
    "(a price finer than the currency's minor unit); `invalid_phone` (`member.phone`); `member_required` "
    '(an anonymous basket with `spend_points` other than 0 or "max"); `invalid_input` (the shape, a '
    "non-empty `coupons`)"
}
_QUOTE_409 = {"description": "`insufficient_points`: the member cannot spend `spend_points` on this basket"}
_RECEIPT_409 = {
    "description": "`receipt_number_conflict` (the store and number hold another receipt), "
    "`insufficient_points` (nothing changed), or `retry` (rare: send the same request again)"
}
_RETURN_404 = {"description": "`receipt_not_found`"}
_RETURNED = {
    "description": "what went back: the money, the points refunded and taken back, the shortfall, and the "
    "receipt as it stands now",
    "content": {"application/json": {"schema": RETURN_SCHEMA}},
}
_BUSY_503 = {
    "description": "`busy`: the member (or receipt) stayed held by other requests or an import for too "
    "long, or every database connection stayed in use; `database_unavailable`: the connection was lost; "
    "`database_full`: the database's disk (or another of its resources) is full. "
    "Nothing was recorded that a repeat would record again: send the same request again after "
    "`Retry-After` seconds"
}
_RETURN_409 = {
    "description": "`return_number_conflict`: this receipt's return number was used for other lines"
}
_RETURN_422 = {
    "description": "`too_many_units` (more than remain of a line), or `invalid_input` (a line the receipt "
    "does not have, a line listed twice, the number `#cancel`)"
}


def caller(ctx: Ctx) -> service.Caller:
    return service.Caller(
        db=ctx.db, tenant_id=ctx.tenant_id, program=ctx.program, now=ctx.now(), campaigns=ctx.campaigns
    )


@router.post(
    "/checkout/quote",
    summary="Evaluate a basket; changes nothing",
    description="Any key. 200 with the result (`id` null, `status` `quote`); nothing is written or locked. "
    "The basket is evaluated at `at` (default: now): the lots available then, the tier from what the "
    "member paid in the `tier_window_days` before it, the campaigns by the store's local time. `member` "
    "takes `id`, `phone` (any common format) or `card`. 404 `member_not_found`; 422 `unknown_store`, "
    '`at_in_future`, `invalid_price`, `invalid_phone`, `member_required`; 409 `insufficient_points` ("max" '
    "never fails).",
    responses={
        200: _result('The evaluated basket: `id` and `number` null, `status` "quote".', QUOTE_EXAMPLE),
        404: _BASKET_404,
        409: _QUOTE_409,
        422: _BASKET_422,
    },
)
async def quote(body: Basket, ctx: AnyKey) -> JSONResponse:
    return JSONResponse(await service.quote(caller(ctx), body))


@router.post(
    "/receipts",
    status_code=201,
    summary="Confirm a sale; (store, number) makes it idempotent",
    description="Any key. 201 when recorded. The same store and number with the same body answer 200 with "
    'the first result and change nothing; bodies are compared by value (`"49.9"` equals `"49.90"`, one '
    "moment at two offsets is one, so is the member's phone written otherwise, or card with spaces around "
    "it). 409 `receipt_number_conflict` for another body (or a number an import loaded), "
    "`insufficient_points` when the points can no longer be spent, `retry` (rare): send it again. "
    "404 and 422 as for a quote. `member.tier` is the tier of what the member paid, net of returns, in "
    "the `tier_window_days` before `at`; null when no tier's threshold is reached.",
    responses={
        201: _RESULT,
        200: _result("a repeat: the first result", RESULT_EXAMPLE),
        404: _BASKET_404,
        409: _RECEIPT_409,
        503: _BUSY_503,
        422: _BASKET_422,
    },
)
async def confirm(body: ReceiptIn, ctx: AnyKey, request: Request) -> JSONResponse:
    # A receipt worked out with settings, campaigns or a key changed meanwhile records nothing;
    # it is worked out again with the tenant read afresh (a till that took the 409 for a refusal
    # would have lost the sale), and only a tenant changing under every attempt answers 409 retry.
    for attempt in range(STALE_ATTEMPTS):
        principal = ctx.principal
        stamp = checkout_store.Stamp(principal.key_id, principal.version, principal.campaigns_version)
        try:
            result, created = await service.confirm(replace(caller(ctx), stamp=stamp), body)
            return JSONResponse(result, status_code=201 if created else 200)
        except checkout_store.StaleCache:
            ctx.forget_cached()
            if attempt == STALE_ATTEMPTS - 1:
                raise
            ctx = await deps.context(request)
    raise AssertionError("unreachable")


@router.get(
    "/receipts",
    summary="Find a receipt by its store and number",
    description="Any key. An addition to contract 7: the receipt that `store` numbered `number`, as "
    "`GET /v1/receipts/{id}` answers it, `id` included; for a till that lost the id, and for a receipt an "
    "import loaded (the paper copy has only the store and number). 404 `receipt_not_found`.",
    responses={200: _result("the receipt as it stands now", RESULT_EXAMPLE), 404: _RETURN_404},
    response_model=None,  # the result as stored (JSON already); its schema is RESULT_SCHEMA
)
async def find_receipt(
    ctx: AnyKey,
    store: str = Query(min_length=1, max_length=64, description="the store's code"),
    number: str = Query(min_length=1, max_length=64, description="the store's own receipt number"),
) -> dict[str, Any]:
    return await service.find(caller(ctx), store, number)


@router.get(
    "/receipts/{receipt_id}",
    summary="A receipt as it stands now",
    description="Any key. The result after its returns: `status` `confirmed`, `partially_returned`, "
    "`returned` or `cancelled`, and each line's `returned_quantity`. An imported receipt is answered "
    "from its recorded figures. 404 `receipt_not_found`.",
    responses={200: _result("the receipt as it stands now", RESULT_EXAMPLE), 404: _RETURN_404},
    response_model=None,  # the result as stored (JSON already); its schema is RESULT_SCHEMA
)
async def get_receipt(receipt_id: str, ctx: AnyKey) -> dict[str, Any]:
    return await service.get(caller(ctx), receipt_id)


@router.post(
    "/receipts/{receipt_id}/returns",
    status_code=201,
    summary="Return some units; (receipt, number) makes it idempotent",
    description="Any key. 201 when recorded. The same `number` on this receipt with the same lines, in any "
    "order, answers 200 with the first result and changes nothing; with other lines, 409 "
    "`return_number_conflict`. 422 `too_many_units` when more than remain; `#cancel` is reserved. 404 "
    "`receipt_not_found`. Points go back and are taken back at the time of the return; `receipt` is the "
    "receipt as it stands after it. Under `withhold`, `withhold` is at most the returned units' share of "
    "`paid` (the refund is never negative); a shortfall worth more is absorbed by the program, as under "
    "`clamp`. Money withheld stays paid: the member's tier window counts it. Which `return_policy` and "
    "`point_value` apply is the program's at the time of the return. Spent points that go back into a "
    "lot earned by a receipt whose own return fell short of them (they had been spent here) settle that "
    "shortfall first: they pay the debt it left, or take back what the program absorbed. "
    "`points_kept_back` (an addition to contract 7) says how many of `points_refunded` did so, and the "
    "member's history shows them as `debt_paid` or `reverse`. What is left of them, in a lot not expired, pays the "
    "member's debt first, as any credit does.",
    responses={
        201: _RETURNED,
        200: {**_RETURNED, "description": "a repeat: the first result"},
        404: _RETURN_404,
        409: _RETURN_409,
        503: _BUSY_503,
        422: _RETURN_422,
    },
)
async def return_units(receipt_id: str, body: ReturnIn, ctx: AnyKey, response: Response) -> dict[str, Any]:
    result, created = await returning.return_units(caller(ctx), receipt_id, body)
    if not created:
        response.status_code = 200
    return result


@router.post(
    "/receipts/{receipt_id}/cancel",
    summary="Return every remaining unit and cancel; idempotent",
    description="Any key; no body. Answers 200 with a return's shape (`number` `#cancel`) and sets `status` "
    "to `cancelled`, also after partial returns, and also once every unit has come back (then with "
    "nothing left to give back: an all-zero answer, and a `receipt.cancelled` event that says so). Cancelling again answers 200 with the first "
    "cancellation's result and changes nothing. A return after it is a 422 `too_many_units`. 404 "
    "`receipt_not_found`.",
    responses={200: _RETURNED, 404: _RETURN_404, 503: _BUSY_503},
)
async def cancel(receipt_id: str, ctx: AnyKey) -> dict[str, Any]:
    return await returning.cancel(caller(ctx), receipt_id)
