"""Lower the CPU priority of a connection's PostgreSQL backend, when it runs on this machine.

``patron worker`` runs niced so that, on a machine it shares with ``patron serve``, the tills
come first. Its queries, though, run in PostgreSQL's backend processes, which keep the server's
priority: during a mass mailing they compete with the tills' queries as much as the worker would
unniced. So each of the worker's connections also renices its own backend, where it can: the
server must be on this machine (a Unix socket or a loopback address, and the backend's process
must be a PostgreSQL one), and this user must be allowed to (the same user as the server, as
with the embedded PostgreSQL, or root). Elsewhere nothing changes and the worker says so once.
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


async def lower_backend_priority(conn: Connection, nice: int) -> bool:
    """Sets the nice value of ``conn``'s backend process to ``nice`` (never raises it back up);
    True when it did, False when the backend is not ours to renice."""
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
            return True
        except OSError as exc:
            reason = f"not permitted ({exc.strerror})"
    if not _warned:
        _warned = True
        log.info("the worker's PostgreSQL sessions keep their priority: %s", reason)
    return False
