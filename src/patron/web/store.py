"""SQL for the admin web app's own tables: users, sessions and the cookie-signing secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import psycopg
from psycopg.types.json import Jsonb

from patron.db.pool import Connection
from patron.errors import Conflict, NotFound


@dataclass(frozen=True, slots=True)
class SessionUser:
    """A signed-in user with their tenant's settings, read in one round trip per request."""

    user_id: str
    email: str
    role: str
    csrf_token: str
    created_at: datetime
    seen_at: datetime
    expires_at: datetime
    tenant_id: int
    slug: str
    settings: dict[str, Any]
    version: int


async def secret(conn: Connection, candidate: bytes) -> bytes:
    """The installation's signing key: ``candidate`` if none was stored yet, else the stored one."""
    await conn.execute(
        "INSERT INTO admin_secret (id, key) VALUES (1, %s) ON CONFLICT (id) DO NOTHING", (candidate,)
    )
    row = await (await conn.execute("SELECT key FROM admin_secret WHERE id = 1")).fetchone()
    assert row is not None
    return bytes(row["key"])


async def insert_user(conn: Connection, tenant_id: int, email: str, password_hash: str, role: str) -> str:
    try:
        row = await (
            await conn.execute(
                "INSERT INTO admin_users (tenant_id, email, password_hash, role) VALUES (%s, %s, %s, %s)"
                " RETURNING id::text AS id",
                (tenant_id, email, password_hash, role),
            )
        ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"a user with the email {email} exists already", code="user_exists") from exc
    assert row is not None
    return str(row["id"])


async def user_for_login(conn: Connection, email: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT id::text AS id, tenant_id, email, password_hash, role, disabled_at FROM admin_users"
        " WHERE email = %s",
        (email,),
    )
    return await cur.fetchone()


async def set_password_hash(conn: Connection, user_id: str, password_hash: str) -> None:
    await conn.execute(
        "UPDATE admin_users SET password_hash = %s, updated_at = now() WHERE id = %s",
        (password_hash, user_id),
    )


async def mark_login(conn: Connection, user_id: str) -> None:
    await conn.execute("UPDATE admin_users SET last_login_at = now() WHERE id = %s", (user_id,))


async def list_users(conn: Connection, tenant_id: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id::text AS id, email, role, created_at, last_login_at, disabled_at FROM admin_users"
        " WHERE tenant_id = %s ORDER BY email",
        (tenant_id,),
    )
    return await cur.fetchall()


async def get_user(conn: Connection, tenant_id: int, user_id: str) -> dict[str, Any]:
    row = await (
        await conn.execute(
            "SELECT id::text AS id, email, role, created_at, last_login_at, disabled_at FROM admin_users"
            " WHERE tenant_id = %s AND id = %s",
            (tenant_id, user_id),
        )
    ).fetchone()
    if row is None:
        raise NotFound("no such user", code="user_not_found")
    return row


async def update_user(conn: Connection, tenant_id: int, user_id: str, *, role: str, disabled: bool) -> None:
    cur = await conn.execute(
        "UPDATE admin_users SET role = %s, updated_at = now(),"
        " disabled_at = CASE WHEN %s THEN coalesce(disabled_at, now()) ELSE NULL END"
        " WHERE tenant_id = %s AND id = %s",
        (role, disabled, tenant_id, user_id),
    )
    if cur.rowcount == 0:
        raise NotFound("no such user", code="user_not_found")


async def lock_active_admins(conn: Connection, tenant_id: int) -> int:
    """How many active admins the program has, locking them until the transaction ends: two admins
    demoting each other at once must not both see the other still there."""
    rows = await (
        await conn.execute(
            "SELECT id FROM admin_users WHERE tenant_id = %s AND role = 'admin' AND disabled_at IS NULL"
            " ORDER BY id FOR UPDATE",
            (tenant_id,),
        )
    ).fetchall()
    return len(rows)


# --- sessions --------------------------------------------------------------------------------


async def insert_session(
    conn: Connection, token_hash: bytes, user_id: str, csrf_token: str, now: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO admin_sessions (token_hash, user_id, csrf_token, created_at, seen_at, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (token_hash, user_id, csrf_token, now, now, expires_at),
    )


async def session_user(conn: Connection, token_hash: bytes, now: datetime) -> SessionUser | None:
    """The live session's user and tenant; None when the session is unknown, expired or disabled."""
    row = await (
        await conn.execute(
            "SELECT u.id::text AS user_id, u.email, u.role, s.csrf_token, s.created_at, s.seen_at, s.expires_at,"
            " t.id AS tenant_id, t.slug, t.settings, t.version"
            " FROM admin_sessions s JOIN admin_users u ON u.id = s.user_id JOIN tenants t ON t.id = u.tenant_id"
            " WHERE s.token_hash = %s AND s.expires_at > %s AND u.disabled_at IS NULL",
            (token_hash, now),
        )
    ).fetchone()
    return None if row is None else SessionUser(**row)


async def touch_session(conn: Connection, token_hash: bytes, now: datetime, expires_at: datetime) -> None:
    await conn.execute(
        "UPDATE admin_sessions SET seen_at = %s, expires_at = %s WHERE token_hash = %s",
        (now, expires_at, token_hash),
    )


async def keep_once(conn: Connection, token_hash: bytes, value: dict[str, Any], until: datetime) -> None:
    await conn.execute(
        "UPDATE admin_sessions SET once = %s, once_until = %s WHERE token_hash = %s",
        (Jsonb(value), until, token_hash),
    )


async def take_once(conn: Connection, token_hash: bytes, now: datetime) -> dict[str, Any] | None:
    """What ``keep_once`` kept for the session, if still in time; it is gone afterwards, so two
    pages opened at once cannot both show it."""
    row = await (
        await conn.execute(
            "UPDATE admin_sessions s SET once = NULL, once_until = NULL"
            " FROM (SELECT token_hash, once, once_until FROM admin_sessions"
            "       WHERE token_hash = %s AND once IS NOT NULL FOR UPDATE) kept"
            " WHERE s.token_hash = kept.token_hash RETURNING kept.once, kept.once_until",
            (token_hash,),
        )
    ).fetchone()
    if row is None or row["once_until"] <= now:
        return None
    return cast(dict[str, Any], row["once"])


async def delete_session(conn: Connection, token_hash: bytes) -> None:
    await conn.execute("DELETE FROM admin_sessions WHERE token_hash = %s", (token_hash,))


async def delete_user_sessions(conn: Connection, user_id: str) -> None:
    await conn.execute("DELETE FROM admin_sessions WHERE user_id = %s", (user_id,))


async def delete_expired_sessions(conn: Connection, now: datetime) -> None:
    await conn.execute("DELETE FROM admin_sessions WHERE expires_at <= %s", (now,))
