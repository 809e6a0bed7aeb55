"""A worker's PostgreSQL sessions are niced like the worker itself, where that is possible."""

from __future__ import annotations

import os

import pytest

from patron.db import priority
from patron.db.pool import Connection, Database


@pytest.mark.parametrize(
    ("address", "local"),
    [(None, True), ("127.0.0.1", True), ("::1", True), ("10.0.0.5", False), ("db.example", False)],
)
def test_only_a_socket_or_loopback_server_is_this_machine(address: str | None, local: bool) -> None:
    assert priority.server_is_local(address) is local


def _may_renice(pid: int, address: str | None) -> bool:
    """Root may renice any process of this machine, any other user only its own."""
    if not priority.server_is_local(address):
        return False
    try:
        owner = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return False
    return os.geteuid() in (0, owner)


async def test_each_new_connection_renices_its_own_backend(database_url: str) -> None:
    reported: list[bool] = []

    async def configure(conn: Connection) -> None:
        reported.append(await priority.lower_backend_priority(conn, 7))

    db = Database(database_url, min_size=2, max_size=2, name="priority-test", configure=configure)
    await db.open()
    try:
        async with db.connection() as conn:
            cursor = await conn.execute("SELECT pg_backend_pid() AS pid, host(inet_server_addr()) AS address")
            row = await cursor.fetchone()
            assert row is not None
            pid = int(row["pid"])
            expected = _may_renice(pid, row["address"])
            assert reported and reported[-1] is expected
            if expected:
                assert os.getpriority(os.PRIO_PROCESS, pid) == 7
            # a backend never gets a better priority than it had
            assert await priority.lower_backend_priority(conn, 3) is expected
            if expected:
                assert os.getpriority(os.PRIO_PROCESS, pid) == 7
    finally:
        await db.close()
    assert len(reported) == 2
