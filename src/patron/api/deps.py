"""What every request needs: the caller (from the API key), its program, the database, the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from patron.campaigns.rules import CampaignSet
from patron.clock import Clock
from patron.db.pool import Database
from patron.errors import Forbidden, Unauthorized
from patron.program.settings import Program
from patron.tenants import keys
from patron.tenants import store as tenants
from patron.tenants.cache import PrincipalCache
from patron.tenants.store import Principal


@dataclass(frozen=True, slots=True)
class Ctx:
    db: Database
    principal: Principal
    program: Program
    clock: Clock
    campaigns: CampaignSet
    principals: PrincipalCache

    @property
    def tenant_id(self) -> int:
        return self.principal.tenant_id

    def forget_cached(self) -> None:
        """Drops what this process holds of the tenant, found out of date before its notice came."""
        self.principals.forget_tenant(self.tenant_id)

    def now(self) -> datetime:
        return self.clock()


class ProgramCache:
    """Parsed programs by (tenant, settings version): a change anywhere bumps the version, which
    every request knows from its key's principal (kept fresh by tenants/cache.py)."""

    def __init__(self) -> None:
        self._programs: dict[int, tuple[int, Program]] = {}

    def get(self, tenant_id: int, version: int, settings: dict[str, Any]) -> Program:
        cached = self._programs.get(tenant_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        program = Program.model_validate(settings)
        self._programs[tenant_id] = (version, program)
        return program


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("an API key is needed: Authorization: Bearer <api_key>")
    return token.strip()


async def authenticate(request: Request) -> Principal:
    """The key's holder; 401 without a key or with an unknown or revoked one."""
    state = request.app.state
    digest = keys.digest(_bearer(request))
    principals: PrincipalCache = state.principals
    principal = principals.get(digest)
    if principal is None:
        generation = principals.generation
        async with state.db.connection() as conn:
            principal = await tenants.principal_for(conn, digest)
        if principal is None:
            raise Unauthorized("unknown or revoked API key", code="invalid_api_key")
        principals.put(digest, principal, generation)
    return principal


async def context(request: Request) -> Ctx:
    state = request.app.state
    principal = await authenticate(request)
    program = state.programs.get(principal.tenant_id, principal.version, principal.settings)
    campaigns = await state.campaigns.get(state.db, principal.tenant_id, principal.campaigns_version)
    return Ctx(
        db=state.db,
        principal=principal,
        program=program,
        clock=state.clock,
        campaigns=campaigns,
        principals=state.principals,
    )


def require_admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise Forbidden("this needs an admin key", code="forbidden")


async def admin(ctx: Annotated[Ctx, Depends(context)]) -> Ctx:
    require_admin(ctx.principal)
    return ctx


AnyKey = Annotated[Ctx, Depends(context)]
AdminKey = Annotated[Ctx, Depends(admin)]
