"""Test database: a fresh database on PATRON_TEST_DATABASE_URL's server, else on an embedded
PostgreSQL in a temporary folder. Never a mock. Each test gets its own tenant, which is all the
isolation Patron's tenancy needs."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from patron.db import migrate
from patron.db.url import with_database


def _admin_url(tmp: Path) -> str:
    external = os.environ.get("PATRON_TEST_DATABASE_URL")
    if external:
        return external
    from patron.db import embedded

    # embedded.start creates a "patron" database we do not use; the server is what we want.
    url = embedded.start(tmp / "embedded")
    return url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    admin = _admin_url(tmp_path_factory.mktemp("pg"))
    name = f"patron_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(admin, name)
    migrate.upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class ManualClock:
    """A clock the tests move; ``None`` means the real time."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed if self.fixed is not None else datetime.now(UTC)


@pytest.fixture(scope="session")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(autouse=True)
def _reset_clock(clock: ManualClock) -> Iterator[None]:
    yield
    clock.fixed = None


@pytest.fixture(scope="session")
async def app(database_url: str, clock: ManualClock) -> AsyncIterator[object]:
    from patron.api.app import create_app

    application = create_app(database_url, clock=clock, pool_min=2, pool_max=12)
    async with application.router.lifespan_context(application):
        yield application
