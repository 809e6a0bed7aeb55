"""Lower the CPU priority of a connection's PostgreSQL backend, when it runs on this machine.

``patron worker`` runs niced so that, on a machine it shares with ``patron serve``, the tills
come first. Its queries, though, run in PostgreSQL's backend processes, which keep the server's
priority: during a mass mailing they compete with the tills' queries as much as the worker would
unniced. So each of the worker's connections also renices its own backend, where it can: the
server must be on this machine (a Unix socket or a loopback address, and the backend's process
must be a PostgreSQL one), and this user must be allowed to (the same user as the server, as
with the embedded PostgreSQL, or root). Elsewhere nothing changes and the worker says so once.

On Linux with autogroup scheduling (``kernel.sched_autogroup_enabled``, the default of many
distributions' kernels), a nice value only ranks a process among the processes of its own
session; the sessions' groups share the CPUs as equals. Every PostgreSQL backend starts its own
session, so a reniced backend alone in its group still took the CPU as readily as the tills'
backends. The group's own nice (``/proc/<pid>/autogroup``) is what ranks it, and it is lowered
too, for a process that leads its session (then the group is that session's alone).

A nice value still leaves the back office a share of a busy CPU: on a slow 2-core machine the
API's threads waited two to three times as long for a CPU while a broadcast was being sent (35 to
65 ms a second, against 100 to 150). Linux's idle scheduling class (``SCHED_IDLE``) gives the
back office only the CPU time nothing else wants, and a till's thread that wakes takes the CPU
from it at once: with the worker and its sessions there, the API's threads waited about as long
while sending as without (BENCHMARKS.md), and the broadcast went out as fast. The price: on a
machine the tills keep fully busy, the back office waits until they let up, and a worker's
transaction that holds a row a till wants (a member's, while their tier or birthday gift is
written) holds that till up with it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

from patron.db.pool import Connection

log = logging.getLogger(__name__)

_warned = False


def server_is_local(server_address: str | None) -> bool:
    """Whether ``inet_server_addr()`` names this machine: None is a Unix socket, else loopback."""
    if server_address is None:
        return True
    try:
        return ipaddress.ip_address(server_address.split("/")[0]).is_loopback
    except ValueError:
        return False


def _is_postgres_process(pid: int) -> bool:
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return name.startswith(("postgres", "postmaster"))


def schedule_idle(pid: int) -> bool:
    """Puts ``pid`` in Linux's idle scheduling class (0: the calling thread; the threads it starts
    later inherit it): it runs only on a CPU that nothing else wants. False where there is no
    such class or this user may not change ``pid``."""
    if not hasattr(os, "SCHED_IDLE"):
        return False
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        return False
    return True


async def lower_backend_priority(conn: Connection, nice: int, *, idle: bool = False) -> bool:
    """Sets the nice value of ``conn``'s backend process, and of its autogroup where it has one,
    to ``nice`` (never raises either back up), and with ``idle`` puts it in the idle scheduling
    class; True when it did, False when the backend is not ours to change."""
    global _warned
    cursor = await conn.execute("SELECT pg_backend_pid() AS pid, host(inet_server_addr()) AS address")
    row = await cursor.fetchone()
    assert row is not None
    pid, address = int(row["pid"]), row["address"]
    reason = None
    if not hasattr(os, "setpriority"):
        reason = "this platform cannot renice processes"
    elif not server_is_local(address):
        reason = f"PostgreSQL is on another machine ({address})"
    elif not _is_postgres_process(pid):
        reason = f"process {pid} is not a PostgreSQL backend of this machine"
    else:
        try:
            if os.getpriority(os.PRIO_PROCESS, pid) < nice:
                os.setpriority(os.PRIO_PROCESS, pid, nice)
            lower_autogroup(pid, nice)
        except OSError as exc:
            reason = f"not permitted ({exc.strerror})"
        else:
            if not idle or schedule_idle(pid):
                return True
            reason = "the idle scheduling class was refused"
    if not _warned:
        _warned = True
        log.info("the worker's PostgreSQL sessions keep their priority: %s", reason)
    return False


def autogroup_nice(pid: int) -> int | None:
    """The nice value of the process's autogroup; None where there is none (not Linux, a kernel
    without autogroups, a process gone)."""
    try:
        text = Path(f"/proc/{pid}/autogroup").read_text()  # "/autogroup-42 nice 0"
    except OSError:
        return None
    words = text.split()
    return int(words[-1]) if len(words) == 3 and words[1] == "nice" else None


def lower_autogroup(pid: int, nice: int) -> bool:
    """Lowers the autogroup of ``pid`` to ``nice`` (never raises it back up), when ``pid`` leads
    its session: the group is then its own (and its children's), never a terminal's or another
    program's. True when the group now has at least that nice value."""
    current = autogroup_nice(pid)
    if current is None:
        return False
    try:
        if os.getsid(pid) != pid:
            return False
        if current < nice:
            Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except OSError:
        return False
    return True
