"""API keys are cached per process, and a change made anywhere reaches every process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from patron.api.app import create_app
from patron.tenants import keys
from tests.integration.conftest import Tenant


@pytest.fixture
async def second_process(database_url: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """Another API process on the same database (its own pools, caches and listener)."""
    app = create_app(database_url, pool_min=1, pool_max=2)
    async with app.router.lifespan_context(app):
        for _ in range(100):  # its listener connects in the background
            if app.state.principals.live:
                break
            await asyncio.sleep(0.02)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://patron.test") as client:
            yield app, client


async def _status_within(client: httpx.AsyncClient, key: str, expected: int, seconds: float = 3.0) -> int:
    status = 0
    for _ in range(int(seconds / 0.05)):
        status = (await client.get("/v1/program", headers={"Authorization": f"Bearer {key}"})).status_code
        if status == expected:
            break
        await asyncio.sleep(0.05)
    return status


async def _cached_after_use(app: Any, client: httpx.AsyncClient, key: str) -> bool:
    """Uses the key until the process keeps it (the notice of the key's own creation may still be
    on its way, and makes the process forget it once)."""
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(60):
        assert (await client.get("/v1/program", headers=headers)).status_code == 200
        if app.state.principals.get(keys.digest(key)) is not None:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_key_revoked_elsewhere_stops_working_here(
    tenant: Tenant, second_process: tuple[Any, httpx.AsyncClient]
) -> None:
    app, client = second_process
    made = (await tenant.call("POST", "/v1/api-keys", {"role": "admin", "name": "ops"})).json()
    assert await _cached_after_use(app, client, made["api_key"])  # answered from memory

    assert (await tenant.call("DELETE", f"/v1/api-keys/{made['id']}")).status_code == 204
    assert await _status_within(client, made["api_key"], 401) == 401


async def test_settings_changed_elsewhere_are_seen_here(
    tenant: Tenant, second_process: tuple[Any, httpx.AsyncClient]
) -> None:
    _, client = second_process
    headers = {"Authorization": f"Bearer {tenant.key}"}
    before = (await client.get("/v1/program", headers=headers)).json()
    changed = {**before, "earn_percent": "7.5"}
    assert (await tenant.call("PUT", "/v1/program", changed)).status_code == 200
    for _ in range(60):
        seen = (await client.get("/v1/program", headers=headers)).json()
        if seen["earn_percent"] == "7.5":
            break
        await asyncio.sleep(0.05)
    assert seen["earn_percent"] == "7.5"


async def test_the_changing_process_sees_its_own_change_at_once(app: Any, tenant: Tenant) -> None:
    made = (await tenant.call("POST", "/v1/api-keys", {"role": "admin", "name": "ops"})).json()
    assert await _cached_after_use(app, tenant.client, made["api_key"])
    assert (await tenant.call("DELETE", f"/v1/api-keys/{made['id']}")).status_code == 204
    # no waiting: the revoking request's own process forgot its cached keys before answering
    assert (await tenant.call("GET", "/v1/program", key=made["api_key"])).status_code == 401
