"""Checkout: quote, receipts, returns, cancellations (contract 7)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from patron.api.deps import AnyKey, Ctx
from patron.api.responses import JSONResponse
from patron.checkout import returning, service
from patron.checkout.model import Basket, ReceiptIn, ReturnIn

router = APIRouter(prefix="/v1", tags=["checkout"])

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
_RESULT = {
    "description": "The evaluated receipt (contract 7). `member` and `balance` are null for an anonymous "
    'basket; a quote has `id` null and `status` "quote".',
    "content": {"application/json": {"example": RESULT_EXAMPLE}},
}
_409 = {"description": "`insufficient_points`, or the idempotency key was used with a different body"}
_422 = {"description": "bad input (unknown store, `at` in the future, coupons, too many units ...)"}


def caller(ctx: Ctx) -> service.Caller:
    return service.Caller(
        db=ctx.db, tenant_id=ctx.tenant_id, program=ctx.program, now=ctx.now(), campaigns=ctx.campaigns
    )


@router.post(
    "/checkout/quote",
    summary="Evaluate a basket; changes nothing",
    responses={200: _RESULT, 404: {"description": "the member named does not exist"}, 409: _409, 422: _422},
)
async def quote(body: Basket, ctx: AnyKey) -> JSONResponse:
    return JSONResponse(await service.quote(caller(ctx), body))


@router.post(
    "/receipts",
    status_code=201,
    summary="Confirm a sale; (store, number) makes it idempotent",
    description="201 when recorded; 200 with the first result when the same store and number come again with "
    "the same body; 409 with a different body, or when the points can no longer be spent.",
    responses={201: _RESULT, 200: {"description": "a repeat: the first result"}, 409: _409, 422: _422},
)
async def confirm(body: ReceiptIn, ctx: AnyKey) -> JSONResponse:
    result, created = await service.confirm(caller(ctx), body)
    return JSONResponse(result, status_code=201 if created else 200)


@router.get("/receipts/{receipt_id}", summary="A receipt as it stands now")
async def get_receipt(receipt_id: str, ctx: AnyKey) -> dict[str, Any]:
    return await service.get(caller(ctx), receipt_id)


@router.post(
    "/receipts/{receipt_id}/returns",
    status_code=201,
    summary="Return some units; (receipt, number) makes it idempotent",
    responses={200: {"description": "a repeat: the first result"}, 409: _409, 422: _422},
)
async def return_units(receipt_id: str, body: ReturnIn, ctx: AnyKey, response: Response) -> dict[str, Any]:
    result, created = await returning.return_units(caller(ctx), receipt_id, body)
    if not created:
        response.status_code = 200
    return result


@router.post("/receipts/{receipt_id}/cancel", summary="Return every remaining unit and cancel; idempotent")
async def cancel(receipt_id: str, ctx: AnyKey) -> dict[str, Any]:
    return await returning.cancel(caller(ctx), receipt_id)
