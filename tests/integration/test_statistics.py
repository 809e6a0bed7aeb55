"""Table statistics kept fresh by Patron itself when the server's autovacuum is off."""

from __future__ import annotations

import asyncio
import uuid

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


async def test_a_table_changed_past_the_threshold_is_analysed_once(database_url: str) -> None:
    schema = f"stats_{uuid.uuid4().hex[:8]}"  # a table of its own, away from the app's keeper
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            await conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
            # autovacuum (on in the embedded server) must not analyse them behind the test's back
            await conn.execute("CREATE TABLE few (id int) WITH (autovacuum_enabled = false)")
            await conn.execute("CREATE TABLE many (id int) WITH (autovacuum_enabled = false)")
            await conn.execute("INSERT INTO few SELECT generate_series(1, %s)", (statistics.BASE_THRESHOLD,))
            await conn.execute("INSERT INTO many SELECT generate_series(1, 500)")
            assert await _poll(conn, ["many"]) == ["many"]  # 50 changes are not past the threshold

            analysed: list[str] = []
            for _ in range(100):  # another process may hold the lock for a moment
                async with conn.transaction():
                    analysed = await statistics.analyze_stale(conn)
                if analysed:
                    break
                await asyncio.sleep(0.05)
            assert analysed == ["many"]
            assert await _poll(conn, []) == []
            row = await (
                await conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'many'::regclass")
            ).fetchone()
            assert row is not None and row["reltuples"] == 500
        finally:
            await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


async def test_a_table_whose_analyze_was_costly_waits_before_the_next(database_url: str) -> None:
    schema = f"stats_{uuid.uuid4().hex[:8]}"
    readings = iter([100.0, 100.5, 102.0, 151.0, 151.1])  # the pacer's clock, one reading a call
    pacer = statistics.Pacer()

    async def analyse(conn: psycopg.AsyncConnection) -> list[str]:
        async with conn.transaction():
            # wait for the app's own keeper to let go of the lock: then an empty answer means paced
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (statistics.LOCK_KEY,))
            return await statistics.analyze_stale(conn, pacer, clock=lambda: next(readings))

    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            await conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
            # autovacuum (on in the embedded server) must not analyse it behind the test's back
            await conn.execute("CREATE TABLE grows (id int) WITH (autovacuum_enabled = false)")
            await conn.execute("INSERT INTO grows SELECT generate_series(1, 500)")
            assert await _poll(conn, ["grows"]) == ["grows"]
            assert await analyse(conn) == ["grows"]  # took 0.5 s by the pacer's clock

            await conn.execute("INSERT INTO grows SELECT generate_series(1, 500)")
            assert await _poll(conn, ["grows"]) == ["grows"]  # stale again ...
            assert await analyse(conn) == []  # ... but 1.5 s later it waits (0.5 s / 1% = 50 s)
            assert await analyse(conn) == ["grows"]  # 50.5 s later it is analysed
        finally:
            await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
