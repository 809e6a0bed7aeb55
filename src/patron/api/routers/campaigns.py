"""Campaigns (contract 8, admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from patron.api.deps import AdminKey
from patron.api.routing import JsonBodyRoute
from patron.campaigns import service
from patron.campaigns.model import CampaignIn

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/campaigns", tags=["campaigns"])


@router.post(
    "",
    status_code=201,
    summary="Create a campaign (admin); an invalid condition is a 422 with its position",
    description="201 with the campaign: its fields, `id`, `created_at`, `updated_at`. A condition that does "
    "not parse is a 422 `invalid_condition` whose `field` names it and whose message gives the position. "
    "Also 422 for an active campaign (an inactive one is checked when it is activated, so that one "
    "stored before a check, or whose tier left the program, can always be deactivated): `tiers` the "
    "program does not have, `countries` that are not ISO 3166 codes, a blank city or store code "
    "(spaces or a zero-width space alone), `min_amount`, money effects and "
    "`limits.budget_money` finer than the currency's minor unit. Checkouts use it within milliseconds.",
)
async def create_campaign(body: CampaignIn, ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.transaction() as conn:
        return await service.create(conn, ctx.tenant_id, body)


@router.get(
    "",
    summary="All campaigns (admin)",
    description='`{"items": [...]}`, oldest first, deleted ones left out; not paginated.',
)
async def list_campaigns(ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        return {"items": await service.list_all(conn, ctx.tenant_id, ctx.program.quantum)}


@router.get(
    "/{campaign_id}",
    summary="A campaign (admin)",
    description="404 `campaign_not_found`, also for a deleted campaign.",
)
async def get_campaign(campaign_id: str, ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        return await service.get(conn, ctx.tenant_id, campaign_id, ctx.program.quantum)


@router.put(
    "/{campaign_id}",
    summary="Replace a campaign (admin); absent fields mean no restriction",
    description="The whole definition is replaced and checked as on creation; answers 200 with it. Its "
    "counted uses and budgets stay. 404 `campaign_not_found`, also for a deleted campaign.",
)
async def put_campaign(campaign_id: str, body: CampaignIn, ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.transaction() as conn:
        return await service.replace(conn, ctx.tenant_id, campaign_id, body)


@router.delete(
    "/{campaign_id}",
    status_code=204,
    summary="Delete a campaign (admin); receipts keep their record",
    description="Answers 204; the campaign no longer applies and is gone from the API, while receipts keep "
    "their record of what it gave. Deleting it again is a 404 `campaign_not_found`.",
)
async def delete_campaign(campaign_id: str, ctx: AdminKey) -> None:
    async with ctx.db.transaction() as conn:
        await service.delete(conn, ctx.tenant_id, campaign_id)
