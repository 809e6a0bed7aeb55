"""Program settings (contract 3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import ValidationError, WithJsonSchema

from patron.api.deps import AdminKey
from patron.api.errors import validation_code
from patron.api.routing import JsonBodyRoute
from patron.errors import InvalidInput, validation_message
from patron.program.settings import Program
from patron.tenants import service, store

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/program", tags=["program"])


def validated(settings: dict[str, Any]) -> Program:
    """A Program, or a 422 naming the first field at fault."""
    try:
        return Program.model_validate(settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "program"
        raise InvalidInput(
            f"{field}: {validation_message(first)}", code=validation_code(first), field=field
        ) from exc


@router.get(
    "",
    summary="The program's settings (admin)",
    description="Every field with its value or default. `tiers` is always a list, sorted by `threshold`: "
    "without tiers set, the one `base` tier at the program's `earn_percent`. A `pos` key gets a 403.",
)
async def get_program(ctx: AdminKey) -> dict[str, Any]:
    return ctx.program.to_json()


@router.put(
    "",
    summary="Set the whole program (admin); absent fields take their defaults",
    description="Answers 200 with the program as `GET` shows it. 422 for a field "
    "at fault (named in `field`), a `point_value` that is not a whole number of the currency's minor "
    "unit, or tiers whose codes or thresholds repeat. 409 `currency_in_use` when the currency would "
    "change once receipts or campaigns exist; 409 `tier_in_use` when a tier an active campaign names "
    "would go (the message names the tier and the campaigns: deactivate them or take the tier out first). "
    "A change of a tier's code or threshold, or of `tier_window_days`, has the workers evaluate every "
    "member's tier again (`member.tier_changed` where it changes).",
    responses={409: {"description": "`currency_in_use`, `tier_in_use`"}},
)
async def put_program(ctx: AdminKey, body: Program) -> dict[str, Any]:
    async with ctx.db.transaction() as conn:
        current = await store.lock_settings(conn, ctx.tenant_id)
        await service.save_program(conn, ctx.tenant_id, body, current)
    return body.to_json()


@router.patch(
    "",
    summary="Change only the given fields of the program (admin)",
    description="The given fields replace the stored ones (`tiers` as a whole list); the result is checked "
    "as a `PUT` is and answered as `GET` shows it. `null` resets a field whose default is null "
    "(`country`, `tiers`, `no_spend_condition`, `birthday`). Same errors as `PUT`; a change of the tiers' "
    "codes or thresholds, or of `tier_window_days`, has every member's tier evaluated again, as there.",
    responses={409: {"description": "`currency_in_use`, `tier_in_use`"}},
)
async def patch_program(
    ctx: AdminKey,
    # published as PUT's: every field is optional there and no other is taken, so a client gets
    # the fields' types (it got "any object")
    body: Annotated[
        dict[str, Any],
        WithJsonSchema({"$ref": "#/components/schemas/Program"}),
        Body(openapi_examples={"earn": {"value": {"earn_percent": "7"}}}),
    ],
) -> dict[str, Any]:
    async with ctx.db.transaction() as conn:
        current = await store.lock_settings(conn, ctx.tenant_id)
        program = validated({**current, **body})
        await service.save_program(conn, ctx.tenant_id, program, current)
    return program.to_json()
