"""``patron users create`` as a person runs it: a real process on the test database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

from patron.db.pool import Database
from patron.web import users
from tests.integration.conftest import Tenant

PATRON = Path(sys.executable).parent / "patron"


def run(database_url: str, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PATRON_DATA_DIR", "PATRON_ADMIN_PASSWORD")}
    env |= {"PATRON_DATABASE_URL": database_url, "COLUMNS": "200"}
    if password is not None:
        env["PATRON_ADMIN_PASSWORD"] = password
    return subprocess.run(
        [str(PATRON), "users", "create", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


async def test_users_create(database_url: str, db: Database, tenant: Tenant) -> None:
    email = f"Ops-{uuid.uuid4().hex[:8]}@Example.com"
    asked = await asyncio.to_thread(run, database_url, email, "--tenant", tenant.slug)
    assert asked.returncode == 2
    assert "PATRON_ADMIN_PASSWORD" in asked.stderr

    made = await asyncio.to_thread(
        run, database_url, email, "--tenant", tenant.slug, password="long enough pw"
    )
    assert made.returncode == 0, made.stderr
    user_id = made.stdout.strip()
    async with db.transaction() as conn:
        user = await users.authenticate(conn, email.lower(), "long enough pw")
    assert user is not None and user["id"] == user_id and user["role"] == "admin"
    assert user["tenant_id"] == tenant.tenant_id
    assert user["password_hash"].startswith("$argon2id$")

    again = await asyncio.to_thread(
        run,
        database_url,
        email,
        "--tenant",
        tenant.slug,
        "--role",
        "support",
        "--password",
        "another long pw",
    )
    assert again.returncode == 2 and "exists already" in again.stderr

    bad = await asyncio.to_thread(
        run,
        database_url,
        "x@example.com",
        "--tenant",
        "no-such-tenant",
        "--role",
        "boss",
        "--password",
        "short",
    )
    assert bad.returncode == 2 and bad.stderr.strip()
