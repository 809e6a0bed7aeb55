"""Campaign use cases, and the per-process cache of compiled campaigns.

Definitions live in each API process's memory, compiled; every request knows the tenant's
``campaigns_version`` from its key's principal (tenants/cache.py), which every process forgets
when PostgreSQL tells it of a change, so a change made by any process is picked up everywhere
within milliseconds, and a quote never queries the campaign tables."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from patron.campaigns import store
from patron.campaigns.model import ALL_OFF, CampaignIn, check_for_program, check_for_saving
from patron.campaigns.rules import CampaignSet, Compiled
from patron.db.pool import Connection, Database
from patron.errors import NotFound
from patron.program.settings import Program


def campaign_uuid(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except (ValueError, AttributeError) as exc:
        raise NotFound("no such campaign", code="campaign_not_found") from exc


def present(row: dict[str, Any], quantum: Decimal) -> dict[str, Any]:
    return {
        "id": row["id"],
        **_with_minor_units(row["definition"], quantum),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _with_minor_units(definition: dict[str, Any], quantum: Decimal) -> dict[str, Any]:
    """The definition's money as contract 2 writes it, with the currency's minor units ("10" is
    stored as it was sent, and answered "10.00"). A figure finer than the currency (an inactive
    campaign of a program whose currency changed) is answered as stored, never rounded."""

    def money(text: str | None) -> str | None:
        if text is None:
            return None
        try:
            value = Decimal(text)
            padded = value.quantize(quantum)
        except (InvalidOperation, ValueError):
            return text
        return f"{padded:f}" if padded == value else text

    shown = {**definition, "min_amount": money(definition.get("min_amount"))}
    if "limits" in definition and definition["limits"] is not None:
        shown["limits"] = {
            **definition["limits"],
            "budget_money": money(definition["limits"].get("budget_money")),
        }
    effect = definition.get("effect") or {}
    if effect.get("type") in ("discount_amount", "fixed_price"):
        shown["effect"] = {**effect, "value": money(effect.get("value"))}
    if (
        effect.get("type") == "buy_x_get_y" and effect.get("percent") is None
    ):  # stored before it was filled in
        shown["effect"] = {**effect, "percent": f"{ALL_OFF}"}
    return shown


def _stored(definition: CampaignIn) -> dict[str, Any]:
    return definition.model_dump(mode="json", by_alias=True)


def _checked(definition: CampaignIn, program: Program) -> dict[str, Any]:
    """An active campaign must fit the program as it is now (its money in the currency's minor
    unit, its tiers the program's). An inactive one applies to nothing, so it is checked when it
    is activated again: a campaign whose tier was since removed can always be deactivated."""
    check_for_saving(definition)
    if definition.active:
        check_for_program(
            definition, program.quantum, frozenset(tier.code for tier in program.effective_tiers)
        )
    return _stored(definition)


async def _program_now(conn: Connection, tenant_id: int) -> Program:
    """The program as committed, read under the tenant's row lock (``store.bump_version``), which
    a program change also takes: a campaign checked against a cached program raced a change that
    removed a tier it names, and both were saved (the change found no campaign naming the tier)."""
    return Program.model_validate(await store.bump_version(conn, tenant_id))


async def create(conn: Connection, tenant_id: int, definition: CampaignIn) -> dict[str, Any]:
    program = await _program_now(conn, tenant_id)
    return present(await store.insert(conn, tenant_id, _checked(definition, program)), program.quantum)


async def replace(conn: Connection, tenant_id: int, raw_id: str, definition: CampaignIn) -> dict[str, Any]:
    program = await _program_now(conn, tenant_id)
    row = await store.replace(conn, tenant_id, campaign_uuid(raw_id), _checked(definition, program))
    return present(row, program.quantum)


async def delete(conn: Connection, tenant_id: int, raw_id: str) -> None:
    await store.delete(conn, tenant_id, campaign_uuid(raw_id))


async def get(conn: Connection, tenant_id: int, raw_id: str, quantum: Decimal) -> dict[str, Any]:
    return present(await store.get(conn, tenant_id, campaign_uuid(raw_id)), quantum)


async def list_all(conn: Connection, tenant_id: int, quantum: Decimal) -> list[dict[str, Any]]:
    return [present(row, quantum) for row in await store.all_live(conn, tenant_id)]


async def load_compiled(conn: Connection, tenant_id: int) -> CampaignSet:
    return CampaignSet(
        [
            Compiled.of(row["id"], CampaignIn.model_validate(row["definition"]))
            for row in await store.all_live(conn, tenant_id)
        ]
    )


class CampaignCache:
    """Compiled campaigns per tenant, kept while the tenant's campaigns version stays the same."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[int, CampaignSet]] = {}
        self.loads = 0

    async def get(self, db: Database, tenant_id: int, version: int) -> CampaignSet:
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        async with db.read() as conn:
            compiled = await load_compiled(conn, tenant_id)
        self.loads += 1
        self._cache[tenant_id] = (version, compiled)
        return compiled
