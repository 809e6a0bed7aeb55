"""A worker's PostgreSQL sessions are niced like the worker itself, where that is possible."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

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
                # each backend leads its own session: where the kernel groups sessions, its
                # group is lowered too, or the niced backend still competes as an equal
                assert priority.autogroup_nice(pid) in (None, 7)
            # a backend never gets a better priority than it had
            assert await priority.lower_backend_priority(conn, 3) is expected
            if expected:
                assert os.getpriority(os.PRIO_PROCESS, pid) == 7
                assert priority.autogroup_nice(pid) in (None, 7)
    finally:
        await db.close()
    assert len(reported) == 2


Sleeper = Callable[[bool], subprocess.Popen[bytes]]


@pytest.fixture
def sleeper() -> Iterator[Sleeper]:
    """Starts a sleeping process: leading a session of its own (like a PostgreSQL backend), or
    in the tests' own session (a terminal's, a CI runner's)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(own_session: bool) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=own_session
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def test_a_session_leaders_autogroup_is_lowered_and_never_raised(sleeper: Sleeper) -> None:
    leader = sleeper(True)
    if priority.autogroup_nice(leader.pid) is None:
        pytest.skip("this kernel has no autogroups")
    assert priority.autogroup_nice(leader.pid) == 0
    assert priority.lower_autogroup(leader.pid, 6) is True
    assert priority.autogroup_nice(leader.pid) == 6
    assert priority.lower_autogroup(leader.pid, 2) is True
    assert priority.autogroup_nice(leader.pid) == 6


def test_a_group_shared_with_its_session_is_left_alone(sleeper: Sleeper) -> None:
    """Lowering it would lower the terminal, the shell and whatever else runs in the session."""
    follower = sleeper(False)
    before = priority.autogroup_nice(follower.pid)
    if before is None:
        pytest.skip("this kernel has no autogroups")
    assert priority.lower_autogroup(follower.pid, 6) is False
    assert priority.autogroup_nice(follower.pid) == before
    assert priority.autogroup_nice(os.getpid()) == before


def test_no_autogroup_for_a_process_that_is_gone(sleeper: Sleeper) -> None:
    proc = sleeper(True)
    proc.kill()
    proc.wait()
    assert priority.autogroup_nice(proc.pid) is None
    assert priority.lower_autogroup(proc.pid, 6) is False
