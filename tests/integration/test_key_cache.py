"""API keys are cached per process, and a change made anywhere reaches every process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from patron.api.app import create_app
from patron.tenants import keys
from patron.tenants.cache import PrincipalCache
from patron.tenants.store import Principal
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


class DeafeningProxy:
    """Forwards connections to PostgreSQL; while ``deaf``, drops what the server sends, as a
    pooler that does not pass notices on, or a peer lost behind a firewall, would."""

    def __init__(self, database_url: str) -> None:
        info = psycopg.conninfo.conninfo_to_dict(database_url)
        self._host, self._port = str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)
        self._info = info
        self.deaf = False
        self.url = ""

    async def __aenter__(self) -> DeafeningProxy:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = psycopg.conninfo.make_conninfo(
            psycopg.conninfo.make_conninfo(**{k: v for k, v in self._info.items() if v is not None}),
            host="127.0.0.1",
            port=port,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()

    async def _pipe(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        if self._host.startswith("/"):  # the embedded server's Unix socket
            server_in, server_out = await asyncio.open_unix_connection(f"{self._host}/.s.PGSQL.{self._port}")
        else:
            server_in, server_out = await asyncio.open_connection(self._host, self._port)

        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter, from_server: bool) -> None:
            while data := await source.read(65536):
                if not (from_server and self.deaf):
                    sink.write(data)
                    await sink.drain()

        try:
            await asyncio.gather(copy(client_in, server_out, False), copy(server_in, client_out, True))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            client_out.close()
            server_out.close()


async def _until(condition: Any, seconds: float) -> bool:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return bool(condition())


async def test_a_listener_that_stops_hearing_notices_stops_trusting_what_it_cached(database_url: str) -> None:
    """A revoked key stayed usable for as long as notices silently stopped arriving."""
    async with DeafeningProxy(database_url) as proxy:
        cache = PrincipalCache()
        following = asyncio.create_task(cache.follow(proxy.url, retry_after=0.05, echo_every=0.2))
        try:
            assert await _until(lambda: cache.live, 5)
            kept = Principal(1, "t1", "pos", "k", {}, 1, 1)
            cache.put(b"key", kept, cache.generation)
            assert cache.get(b"key") == kept
            proxy.deaf = True  # from now on no notice arrives, and nothing fails
            assert await _until(lambda: not cache.live, 2)
            assert cache.get(b"key") is None
            proxy.deaf = False
            assert await _until(lambda: cache.live, 5)  # it connects again
        finally:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
