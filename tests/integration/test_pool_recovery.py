"""After a restart every pooled connection is dead: one failure, then a check of the rest."""

from __future__ import annotations

import psycopg
import pytest

from patron.db.pool import Database


async def _terminate(url: str, pids: list[int]) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        for pid in pids:  # as a restart or a failover does to them
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def test_recover_replaces_every_dead_idle_connection(database_url: str) -> None:
    db = Database(database_url, min_size=3, max_size=3, name="recovery-test")
    await db.open()
    try:
        async with db.read() as one, db.read() as two, db.read() as three:
            pids = [conn.info.backend_pid for conn in (one, two, three)]
        await _terminate(database_url, pids)

        with pytest.raises(psycopg.OperationalError):  # the first use meets a dead connection
            async with db.read() as conn:
                await conn.execute("SELECT 1")
        await db.recover()
        for _ in range(6):  # without the check, two more of these would fail
            async with db.read() as conn:
                assert (await (await conn.execute("SELECT 1 AS one")).fetchone()) == {"one": 1}
                assert conn.info.backend_pid not in pids
    finally:
        await db.close()
