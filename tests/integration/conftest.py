"""HTTP-level fixtures: an async client on the real app, and a fresh tenant per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from patron.db.pool import Database
from patron.tenants import service


@dataclass
class Tenant:
    slug: str
    tenant_id: int
    key: str
    client: httpx.AsyncClient

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def call(
        self, method: str, path: str, json: Any = None, key: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return await self.client.request(method, path, json=json, headers=headers, **kw)


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, min_size=1, max_size=4, name="tests")
    await database.open()
    yield database
    await database.close()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://patron.test") as http:
        yield http


async def make_tenant(db: Database, client: httpx.AsyncClient, **program: Any) -> Tenant:
    slug = "t" + uuid.uuid4().hex[:12]
    async with db.transaction() as conn:
        made = await service.create(conn, slug, **program)
    return Tenant(slug=slug, tenant_id=made.tenant_id, key=made.api_key, client=client)


@pytest.fixture
async def tenant(db: Database, client: httpx.AsyncClient) -> Tenant:
    """A program in RUB, Moscow time, phones in Russia."""
    return await make_tenant(db, client, currency="RUB", timezone="Europe/Moscow", country="RU")


@pytest.fixture
async def other_tenant(db: Database, client: httpx.AsyncClient) -> Tenant:
    return await make_tenant(db, client, currency="EUR", timezone="Europe/Berlin", country="DE")
