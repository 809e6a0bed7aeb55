"""A worker and its PostgreSQL sessions run below the tills (niced, in the idle class), where that is possible."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
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


async def _backend_we_may_change(conn: Connection) -> tuple[int, bool]:
    """The connection's backend process, and whether this user may change its priority."""
    cursor = await conn.execute("SELECT pg_backend_pid() AS pid, host(inet_server_addr()) AS address")
    row = await cursor.fetchone()
    assert row is not None
    pid = int(row["pid"])
    return pid, _may_renice(pid, row["address"])


async def test_each_new_connection_renices_its_own_backend(database_url: str) -> None:
    reported: list[bool] = []

    async def configure(conn: Connection) -> None:
        reported.append(await priority.lower_backend_priority(conn, 7))

    db = Database(database_url, min_size=2, max_size=2, name="priority-test", configure=configure)
    await db.open()
    try:
        async with db.connection() as conn:
            pid, expected = await _backend_we_may_change(conn)
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


needs_idle_class = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="no idle scheduling class here")


@needs_idle_class
def test_a_process_is_put_in_the_idle_scheduling_class(sleeper: Sleeper) -> None:
    proc = sleeper(True)
    assert os.sched_getscheduler(proc.pid) == os.SCHED_OTHER
    assert priority.schedule_idle(proc.pid) is True
    assert os.sched_getscheduler(proc.pid) == os.SCHED_IDLE
    proc.kill()
    proc.wait()
    assert priority.schedule_idle(proc.pid) is False  # gone: refused, not raised


@needs_idle_class
async def test_with_idle_each_backend_is_put_in_the_idle_class_too(database_url: str) -> None:
    reported: list[bool] = []

    async def configure(conn: Connection) -> None:
        reported.append(await priority.lower_backend_priority(conn, 4, idle=True))

    db = Database(database_url, min_size=1, max_size=1, name="priority-test", configure=configure)
    await db.open()
    try:
        async with db.connection() as conn:
            pid, expected = await _backend_we_may_change(conn)
            assert reported == [expected]
            if expected:
                assert os.sched_getscheduler(pid) == os.SCHED_IDLE
                assert os.getpriority(os.PRIO_PROCESS, pid) == 4
    finally:
        await db.close()


def _until(condition: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _worker_sessions(database_url: str, name: str) -> list[int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,))
        return [int(pid) for (pid,) in rows.fetchall()]


@needs_idle_class
@pytest.mark.parametrize("idle", [True, False])
def test_a_worker_runs_in_the_idle_class_unless_told_not_to(
    database_url: str, idle: bool, tmp_path: Path
) -> None:
    """The worker's process, and each of its sessions once the pool has set it up (reniced to the
    worker's default 10, where this user may), are in the idle class; with --no-idle neither is.
    It says when it starts and stops."""
    name = f"idle-test-{os.getpid()}-{idle}"
    command = [str(Path(sys.executable).parent / "patron"), "worker", "--poll", "0.1"]
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, *([] if idle else ["--no-idle"])],
            env={**os.environ, "PATRON_DATABASE_URL": database_url, "PGAPPNAME": name},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        expected = os.SCHED_IDLE if idle else os.SCHED_OTHER
        assert _until(lambda: proc.poll() is None and os.sched_getscheduler(proc.pid) == expected)
        assert _until(lambda: len(_worker_sessions(database_url, name)) >= 2)  # the pool's least
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT host(inet_server_addr())").fetchone()
        address = row[0] if row else None
        sessions = [pid for pid in _worker_sessions(database_url, name) if _may_renice(pid, address)]
        assert _until(lambda: all(os.getpriority(os.PRIO_PROCESS, pid) == 10 for pid in sessions))
        assert _until(lambda: all(os.sched_getscheduler(pid) == expected for pid in sessions))
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(30)
    said = log.read_text()
    assert "worker started" in said and "worker stopped" in said
