"""SQL for tenants and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import psycopg

from patron.db.pool import Connection
from patron.errors import Conflict, NotFound
from patron.tenants.keys import NewKey, Role


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant, through a key with a role."""

    tenant_id: int
    slug: str
    role: Role
    key_id: str
    settings: dict[str, Any]
    version: int
    campaigns_version: int


async def create_tenant(conn: Connection, slug: str, settings: dict[str, Any]) -> int:
    try:
        row = await (
            await conn.execute(
                "INSERT INTO tenants (slug, settings) VALUES (%s, %s) RETURNING id",
                (slug, psycopg.types.json.Jsonb(settings)),
            )
        ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"tenant {slug!r} already exists", code="tenant_exists") from exc
    assert row is not None
    return cast(int, row["id"])


async def tenant_id_by_slug(conn: Connection, slug: str) -> int:
    row = await (await conn.execute("SELECT id FROM tenants WHERE slug = %s", (slug,))).fetchone()
    if row is None:
        raise NotFound(f"no tenant {slug!r}")
    return cast(int, row["id"])


async def list_tenants(conn: Connection) -> list[dict[str, Any]]:
    cur = await conn.execute("SELECT id, slug, created_at FROM tenants ORDER BY id")
    return await cur.fetchall()


async def insert_key(conn: Connection, tenant_id: int, role: Role, name: str, key: NewKey) -> str:
    row = await (
        await conn.execute(
            "INSERT INTO api_keys (tenant_id, role, name, key_hash, prefix) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (tenant_id, role, name, key.digest, key.prefix),
        )
    ).fetchone()
    assert row is not None
    return str(row["id"])


async def revoke_key(conn: Connection, tenant_id: int, key_id: str) -> None:
    """Revokes a key; a key revoked already keeps its moment, so a retried DELETE is no change."""
    cur = await conn.execute(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE tenant_id = %s AND id = %s",
        (tenant_id, key_id),
    )
    if cur.rowcount == 0:
        raise NotFound("no such API key")


async def list_keys(conn: Connection, tenant_id: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id::text AS id, role, name, prefix, created_at, revoked_at FROM api_keys "
        "WHERE tenant_id = %s ORDER BY created_at",
        (tenant_id,),
    )
    return await cur.fetchall()


async def principal_for(conn: Connection, digest: bytes) -> Principal | None:
    """The caller behind a key hash, with the tenant's settings (one round trip)."""
    row = await (
        await conn.execute(
            "SELECT k.id::text AS key_id, k.role, t.id AS tenant_id, t.slug, t.settings, t.version,"
            " t.campaigns_version "
            "FROM api_keys k JOIN tenants t ON t.id = k.tenant_id "
            "WHERE k.key_hash = %s AND k.revoked_at IS NULL",
            (digest,),
        )
    ).fetchone()
    if row is None:
        return None
    return Principal(
        tenant_id=row["tenant_id"],
        slug=row["slug"],
        role=row["role"],
        key_id=row["key_id"],
        settings=row["settings"],
        version=row["version"],
        campaigns_version=row["campaigns_version"],
    )


async def save_settings(conn: Connection, tenant_id: int, settings: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE tenants SET settings = %s, version = version + 1 WHERE id = %s",
        (psycopg.types.json.Jsonb(settings), tenant_id),
    )


async def has_money_records(conn: Connection, tenant_id: int) -> bool:
    """Whether the tenant has receipts or campaigns: amounts written in its currency.

    Holds off new ones until the caller's transaction ends (a share lock on both tables, taken
    after those being written have committed): a receipt confirmed meanwhile, by a process that
    had not yet heard of the change, was recorded in the old currency, and no return could take
    it. Asked only when a currency changes, which is rare; other tenants' receipts wait for it too."""
    await conn.execute("LOCK TABLE receipts, campaigns IN SHARE MODE")
    row = await (
        await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM receipts WHERE tenant_id = %(t)s)"
            " OR EXISTS (SELECT 1 FROM campaigns WHERE tenant_id = %(t)s) AS found",
            {"t": tenant_id},
        )
    ).fetchone()
    return bool(row and row["found"])


async def active_campaigns_naming(conn: Connection, tenant_id: int, tiers: list[str]) -> list[dict[str, Any]]:
    """The active campaigns (not deleted) whose ``tiers`` name any of ``tiers``: name and tier."""
    cursor = await conn.execute(
        "SELECT c.definition ->> 'name' AS name, t.code AS tier"
        " FROM campaigns c, jsonb_array_elements_text(c.definition -> 'tiers') AS t (code)"
        " WHERE c.tenant_id = %s AND c.deleted_at IS NULL"
        " AND coalesce((c.definition ->> 'active')::boolean, true) AND t.code = ANY(%s)"
        " ORDER BY c.created_at, c.id, t.code",
        (tenant_id, tiers),
    )
    return await cursor.fetchall()


async def lock_settings(conn: Connection, tenant_id: int) -> dict[str, Any]:
    row = await (
        await conn.execute("SELECT settings FROM tenants WHERE id = %s FOR UPDATE", (tenant_id,))
    ).fetchone()
    if row is None:
        raise NotFound("no such tenant")
    return cast(dict[str, Any], row["settings"])


CHANGES_CHANNEL = "patron_tenants"  # migration 0009: the payload is the tenant id


async def listen_for_changes(conn: Connection, echo_channel: str) -> None:
    """Subscribes ``conn`` to the notices of changed keys, settings and campaigns, and to its own
    ``echo_channel`` (``send_echo``), by which it proves that notices still reach it."""
    await conn.execute(f"LISTEN {CHANGES_CHANNEL}")
    await conn.execute(f"LISTEN {echo_channel}")


async def send_echo(conn: Connection, echo_channel: str) -> None:
    await conn.execute("SELECT pg_notify(%s, '')", (echo_channel,))
