"""After a restart every pooled connection is dead: one failure, then a check of the rest."""

from __future__ import annotations

import psycopg
import psycopg_pool
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


async def test_a_pool_all_lent_out_is_busy_and_one_that_cannot_connect_is_not(database_url: str) -> None:
    """A request that timed out waiting for a connection was answered "the connection to the
    database was lost" when requests only outnumbered connections: ``busy`` tells the two apart."""
    db = Database(database_url, min_size=1, max_size=2, name="busy-test")
    await db.open()
    try:
        assert not db.busy()
        async with db.read(), db.read():
            assert db.busy()  # every connection it may open is open and lent out
        assert not db.busy()
    finally:
        await db.close()
    away = Database("postgresql://postgres@127.0.0.1:1/none", min_size=0, max_size=2, name="away-test")
    await away.pool.open()
    try:
        with pytest.raises(psycopg_pool.PoolTimeout):
            await away.pool.getconn(timeout=0.5)
        assert not away.busy()  # no connection is open: the database is out of reach
    finally:
        await away.close()


async def _application_name(url: str) -> str:
    db = Database(url, min_size=1, max_size=1, name="worker")
    await db.open()
    try:
        async with db.read() as conn:
            row = await (await conn.execute("SELECT current_setting('application_name') AS name")).fetchone()
            assert row is not None
            return str(row["name"])
    finally:
        await db.close()


async def test_connections_are_named_after_their_pool_unless_the_url_names_them(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator tells the tills' backends from the workers' in ``pg_stat_activity``; a name
    given in the URL or in PGAPPNAME wins over Patron's."""
    monkeypatch.delenv("PGAPPNAME", raising=False)
    assert await _application_name(database_url) == "patron-worker"
    named = psycopg.conninfo.make_conninfo(database_url, application_name="tills-eu")
    assert await _application_name(named) == "tills-eu"
    monkeypatch.setenv("PGAPPNAME", "from-the-environment")
    assert await _application_name(database_url) == "from-the-environment"
