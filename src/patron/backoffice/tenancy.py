"""The tenants a worker serves, with their programs parsed once per settings version."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from patron.backoffice import store
from patron.db.pool import Connection
from patron.program.settings import Program, Tier


@dataclass(frozen=True, slots=True)
class TenantInfo:
    id: int
    slug: str
    program: Program

    def tier(self, code: str | None) -> dict[str, Any] | None:
        """A tier as templates see it; ``None`` (never evaluated) is the tier of no purchases."""
        found: Tier | None
        if code is None:
            found = self.program.tier_for(Decimal(0))
        else:
            found = next((t for t in self.program.effective_tiers if t.code == code), None)
            if found is None:  # a tier the program no longer has
                return {"code": code, "name": code, "earn_percent": None}
        if found is None:
            return None
        return {"code": found.code, "name": found.name, "earn_percent": str(found.earn_percent)}

    @property
    def default_tier(self) -> str | None:
        """The tier of a member with no purchases."""
        tier = self.tier(None)
        return None if tier is None else tier["code"]


class Tenants:
    """Programs by tenant, re-parsed only when the tenant's settings version changes."""

    def __init__(self, only: list[int] | None = None) -> None:
        self.only = only
        self._cache: dict[int, tuple[int, TenantInfo]] = {}

    async def all(self, conn: Connection) -> list[TenantInfo]:
        return [self.from_row(row) for row in await store.tenants(conn, self.only)]

    async def get(self, conn: Connection, tenant_id: int) -> TenantInfo:
        cached = self._cache.get(tenant_id)
        rows = await store.tenants(conn, [tenant_id])
        if not rows:  # pragma: no cover - tenants are never deleted
            raise LookupError(f"no tenant {tenant_id}")
        if cached is not None and cached[0] == rows[0]["version"]:
            return cached[1]
        return self.from_row(rows[0])

    def from_row(self, row: dict[str, Any]) -> TenantInfo:
        """The tenant of a row with its ``id``, ``slug``, ``settings`` and ``version``."""
        cached = self._cache.get(row["id"])
        if cached is not None and cached[0] == row["version"]:
            return cached[1]
        info = TenantInfo(row["id"], row["slug"], Program.model_validate(row["settings"]))
        self._cache[row["id"]] = (row["version"], info)
        return info
