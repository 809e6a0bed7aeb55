"""Creating a tenant: its program with defaults and its first admin key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from pydantic import ValidationError

from patron.backoffice import outbox
from patron.db.pool import Connection
from patron.errors import Conflict, InvalidInput, validation_message
from patron.program.settings import Program, check_for_saving
from patron.tenants import keys, store

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


@dataclass(frozen=True, slots=True)
class NewTenant:
    tenant_id: int
    slug: str
    api_key: str
    key_id: str


async def create(
    conn: Connection, slug: str, *, currency: str = "EUR", timezone: str = "UTC", country: str | None = None
) -> NewTenant:
    import re

    if not re.fullmatch(SLUG_PATTERN, slug):
        raise InvalidInput("slug: lowercase letters, digits, - and _, at most 63", field="slug")
    try:
        program = Program(currency=currency, timezone=timezone, country=country)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{field}: {validation_message(first)}", field=field) from exc
    check_for_saving(program, {})
    tenant_id = await store.create_tenant(conn, slug, program.model_dump(mode="json"))
    key = keys.generate()
    key_id = await store.insert_key(conn, tenant_id, "admin", "created with the tenant", key)
    return NewTenant(tenant_id, slug, key.secret, key_id)


async def new_key(conn: Connection, slug: str, name: str, role: str = "admin") -> tuple[str, str]:
    """A new API key of the tenant named ``slug``: ``(id, secret)``. The operator's way back in when
    a program's last admin key was revoked (``patron tenants key``), and the demo's key."""
    if role not in keys.ROLES:
        raise InvalidInput(f"role: either admin or pos, not {role!r}", field="role")
    if not name or len(name) > 200:
        raise InvalidInput("name: 1 to 200 characters", field="name")
    tenant_id = await store.tenant_id_by_slug(conn, slug)
    key = keys.generate()
    key_id = await store.insert_key(conn, tenant_id, cast(keys.Role, role), name, key)
    return key_id, key.secret


async def save_program(conn: Connection, tenant_id: int, program: Program, current: dict[str, Any]) -> None:
    """Saves a new or changed program (the caller holds ``lock_settings``, which gave ``current``).

    Beyond each field's own rules: those of ``check_for_saving``, the currency stays once
    receipts or campaigns hold amounts in it (they could no longer be returned or applied), and a
    tier stays while an active campaign names it (the campaign would apply to no one, and could
    not be saved again as it is)."""
    check_for_saving(program, current)
    before_program = Program.model_validate(current)
    removed = {t.code for t in before_program.effective_tiers} - {t.code for t in program.effective_tiers}
    if removed and (named := await store.active_campaigns_naming(conn, tenant_id, sorted(removed))):
        first = named[0]["tier"]
        names = [repr(row["name"]) for row in named if row["tier"] == first]
        listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise Conflict(
            f"tiers: active campaigns still name tier {first!r} ({listed}):"
            " take it out of them or deactivate them first",
            code="tier_in_use",
            field="tiers",
        )
    before = current.get("currency", Program.model_fields["currency"].default)
    if program.currency != before and await store.has_money_records(conn, tenant_id):
        raise Conflict(
            f"currency: the program's receipts and campaigns are in {before}; it cannot change",
            code="currency_in_use",
            field="currency",
        )
    await store.save_settings(conn, tenant_id, program.model_dump(mode="json"))
    if program.tier_rules != before_program.tier_rules:
        # Members' tiers as the back office holds them were decided by the old rules: workers
        # evaluate them all again (``backoffice.tiers.program_changed``), once this commits.
        data = {
            "tiers": [t.model_dump(mode="json") for t in program.effective_tiers],
            "tier_window_days": program.tier_window_days,
        }
        await outbox.emit(conn, tenant_id, "program.tiers_changed", member_id=None, data=data)
