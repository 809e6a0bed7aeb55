"""Table statistics kept fresh by Patron itself when the server's autovacuum is off."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from patron.db import statistics


async def _poll(conn: psycopg.AsyncConnection, expected: list[str]) -> list[str]:
    """Statistics reach the views a little after the commit: ask until they say ``expected``."""
    seen: list[str] = []
    for _ in range(100):
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        seen = await statistics.stale_tables(conn)
        if seen == expected:
            break
        await asyncio.sleep(0.05)
    return seen


@contextlib.asynccontextmanager
async def own_schema(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection whose tables live in a schema of their own, away from the app's keeper (which
    looks at its own schema only); the schema is dropped afterwards."""
    schema = sql.Identifier(f"stats_{uuid.uuid4().hex[:8]}")
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        try:
            await conn.execute(sql.SQL("SET search_path = {}").format(schema))
            yield conn
        finally:
            await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(schema))


async def analyse(conn: psycopg.AsyncConnection[Any], **pacing: Any) -> list[str]:
    """``analyze_stale`` once the app's own keeper has let go of the lock (it is taken here first,
    waiting; the keeper's own try then succeeds in the same session): an empty answer is not the
    lock being busy."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (statistics.LOCK_KEY,))
        return await statistics.analyze_stale(conn, **pacing)


# autovacuum (on in the embedded server) must not analyse the tests' tables behind their back
NO_AUTOVACUUM = "WITH (autovacuum_enabled = false)"


async def test_a_table_changed_past_the_threshold_is_analysed_once(database_url: str) -> None:
    async with own_schema(database_url) as conn:
        await conn.execute(f"CREATE TABLE few (id int) {NO_AUTOVACUUM}")
        await conn.execute(f"CREATE TABLE many (id int) {NO_AUTOVACUUM}")
        await conn.execute("INSERT INTO few SELECT generate_series(1, %s)", (statistics.BASE_THRESHOLD,))
        await conn.execute("INSERT INTO many SELECT generate_series(1, 500)")
        assert await _poll(conn, ["many"]) == ["many"]  # 50 changes are not past the threshold

        assert await analyse(conn) == ["many"]
        assert await _poll(conn, []) == []
        row = await (
            await conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'many'::regclass")
        ).fetchone()
        assert row is not None and row["reltuples"] == 500


async def test_a_table_whose_analyze_was_costly_waits_before_the_next(database_url: str) -> None:
    readings = iter([100.0, 100.5, 102.0, 151.0, 151.1])  # the pacer's clock, one reading a call
    pacing = {"pacer": statistics.Pacer(), "clock": lambda: next(readings)}
    async with own_schema(database_url) as conn:
        await conn.execute(f"CREATE TABLE grows (id int) {NO_AUTOVACUUM}")
        await conn.execute("INSERT INTO grows SELECT generate_series(1, 500)")
        assert await _poll(conn, ["grows"]) == ["grows"]
        assert await analyse(conn, **pacing) == ["grows"]  # took 0.5 s by the pacer's clock

        await conn.execute("INSERT INTO grows SELECT generate_series(1, 500)")
        assert await _poll(conn, ["grows"]) == ["grows"]  # stale again ...
        assert await analyse(conn, **pacing) == []  # ... but 1.5 s later it waits (0.5 s / 1% = 50 s)
        assert await analyse(conn, **pacing) == ["grows"]  # 50.5 s later it is analysed
