"""The embedded PostgreSQL as an operator meets it, in real processes on temporary data folders:
whatever keeps it from starting is one line on stderr and exit status 2 (never the package's dump
of the server's log, or a traceback and 1, which ``verify`` keeps for a ledger that fails)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from patron.db import embedded
from tests.integration.test_cli import alive, base_env, patron, postmaster_pid, postmasters, wait_until


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_server_that_cannot_start_is_one_line_with_its_logs_fatal_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = base_env(PATRON_DATA_DIR=str(data))
    assert patron("db", "url", env=env).returncode == 0  # made, started and stopped
    with (data / "pg" / "postgresql.conf").open("a") as conf:
        conf.write("shared_buffers = 'plenty'\n")  # an operator's mistake
    line = one_line(patron("verify", env=env))
    assert "could not start: configuration file" in line and "contains errors" in line, line
    assert f"(its log: {data / 'pg' / 'log'})" in line


def test_a_server_whose_files_are_gone_is_one_line_naming_what_is_missing(tmp_path: Path) -> None:
    pgdata = tmp_path / "data" / "pg"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("18\n")  # the rest of the folder lost
    line = one_line(patron("verify", env=base_env(PATRON_DATA_DIR=str(tmp_path / "data"))))
    assert "could not start" in line and "No such file or directory" in line, line


def test_a_start_slower_than_the_packages_wait_says_to_run_the_command_again(tmp_path: Path) -> None:
    """The package gives pg_ctl 10 s, whatever the crash recovery needs (it cannot be set)."""
    log = tmp_path / "log"
    log.write_text("2026-12-06 12:33:05 UTC [1704] FATAL:  an earlier start's failure\n")
    seen = log.stat().st_size
    with log.open("a") as file:
        file.write("2026-12-06 12:40:00 UTC [1900] LOG:  database system was interrupted\n")
    timeout = subprocess.TimeoutExpired(["/bin/pg_ctl", "start"], 9.99)
    assert "run the command again in a minute" in embedded._why(timeout, log, seen, [])
    failed = subprocess.CalledProcessError(1, ["/usr/lib/pg/bin/initdb", "-D", "x"])
    said = ["error:", "initdb: error: could not create directory: No space left on device"]
    assert embedded._why(failed, tmp_path / "none", 0, said) == said[1]
    assert embedded._why(failed, tmp_path / "none", 0, []) == "initdb failed with exit status 1"


HOLD = (
    "import sys; from pathlib import Path; from patron.db import embedded;"
    " print(embedded.start(Path(sys.argv[1])), flush=True); sys.stdin.read()"
)


class Holder:
    """A process holding the embedded server of ``data``, as serve or worker does, until its
    stdin closes (then it exits normally, through its atexit cleanup)."""

    def __init__(self, data: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(data)],
            env=base_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        assert self.url.startswith("postgresql://"), self.process.communicate(timeout=30)[1]

    def exit(self) -> str:
        _, err = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, err
        return err


@contextlib.contextmanager
def no_server_left(pgdata: Path) -> Iterator[None]:
    try:
        yield
    finally:
        for pid in postmasters(pgdata):  # whatever failed, never leave a server behind
            os.kill(pid, signal.SIGINT)


def test_the_last_live_holder_stops_the_server_though_another_was_killed(tmp_path: Path) -> None:
    pgdata = (tmp_path / "data" / "pg").resolve()
    with no_server_left(pgdata):
        killed, last = Holder(tmp_path / "data"), Holder(tmp_path / "data")
        server = postmaster_pid(pgdata)
        assert server is not None and postmasters(pgdata) == [server]
        killed.process.kill()
        killed.process.wait()
        last.exit()
        assert wait_until(lambda: not alive(server), 20), "the server outlived the last live holder"


def test_a_damaged_list_of_holders_neither_stops_the_server_under_a_live_one_nor_leaves_it_running(
    tmp_path: Path,
) -> None:
    """The list, cut short by a crash mid-write, was rewritten empty: a short command then took
    itself for the last holder and stopped the server under serve, and serve's exit left it."""
    pgdata = (tmp_path / "data" / "pg").resolve()
    with no_server_left(pgdata):
        holder = Holder(tmp_path / "data")
        server = postmaster_pid(pgdata)
        assert server is not None
        (pgdata / ".handle_pids.json").write_text(f"[{holder.process.pid}, 12")
        assert patron("db", "url", env=base_env(PATRON_DATA_DIR=str(tmp_path / "data"))).returncode == 0
        assert postmaster_pid(pgdata) == server and alive(server), "stopped under a live holder"
        (pgdata / ".handle_pids.json").write_text(f"[{holder.process.pid}, 12")
        holder.exit()
        assert wait_until(lambda: not alive(server), 20), "the server outlived its last holder"


def test_the_last_holder_stops_the_server_though_a_dead_holders_number_is_now_another_process(
    tmp_path: Path,
) -> None:
    """After a reboot or a container restart, numbers start low again: a dead holder's number,
    taken by an unrelated process, counted as a live holder, and the server was never stopped."""
    pgdata = (tmp_path / "data" / "pg").resolve()
    unrelated = subprocess.Popen(["sleep", "60"])
    try:
        with no_server_left(pgdata):
            holder = Holder(tmp_path / "data")
            server = postmaster_pid(pgdata)
            assert server is not None
            (pgdata / ".handle_pids.json").write_text(f"[{unrelated.pid}, {holder.process.pid}]")
            holder.exit()
            assert wait_until(lambda: not alive(server), 20), "the server outlived its last holder"
            assert unrelated.poll() is None  # left alone
    finally:
        unrelated.kill()
        unrelated.wait()


def test_the_last_holder_stops_a_server_another_process_started_again(tmp_path: Path) -> None:
    """The server died under its holder (the OOM killer); another command started it again."""
    pgdata = (tmp_path / "data" / "pg").resolve()
    with no_server_left(pgdata):
        holder = Holder(tmp_path / "data")
        first = postmaster_pid(pgdata)
        assert first is not None
        os.kill(first, signal.SIGKILL)
        assert wait_until(lambda: not alive(first) and not postmasters(pgdata), 20)
        time.sleep(1)  # its backends notice and leave
        assert patron("db", "url", env=base_env(PATRON_DATA_DIR=str(tmp_path / "data"))).returncode == 0
        again = postmaster_pid(pgdata)
        assert again is not None and again != first and alive(again)  # still held: kept running
        holder.exit()
        assert wait_until(lambda: not alive(again), 20), "the server outlived its last holder"


def test_a_holder_starts_its_server_again_when_it_dies(tmp_path: Path) -> None:
    """The OOM killer took the server: serve and worker went on failing (each request waiting 30 s)
    until another command happened to start it."""
    pgdata = (tmp_path / "data" / "pg").resolve()
    with no_server_left(pgdata):
        holder = Holder(tmp_path / "data")
        first = postmaster_pid(pgdata)
        assert first is not None
        os.kill(first, signal.SIGKILL)
        started = lambda: (pid := postmaster_pid(pgdata)) not in (None, first) and alive(pid)  # noqa: E731
        assert wait_until(started, 30), "the server was not started again"

        def answers() -> bool:  # at the same URL as before, once its crash recovery is done
            try:
                with psycopg.connect(holder.url, connect_timeout=5) as conn:
                    return conn.execute("SELECT 1").fetchone() == (1,)
            except psycopg.OperationalError:
                return False

        assert wait_until(answers, 30, 0.5)
        again = postmaster_pid(pgdata)
        assert again is not None
        said = holder.exit()
        assert "is not running (stopped or crashed): starting it again" in said, said
        assert wait_until(lambda: not alive(again), 20), "the server outlived its last holder"


INTERRUPTED = """
import atexit, os, signal, sys, threading, time
from pathlib import Path
from patron.db import embedded

embedded.start(Path(sys.argv[1]))
exiting = threading.Event()

def ctrl_c():  # pressed again and again while the process stops the server on its way out
    exiting.wait()
    time.sleep(0.1)
    for _ in range(150):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.02)

threading.Thread(target=ctrl_c, daemon=True).start()
atexit.register(exiting.set)  # the last registered: the first to run at exit
"""


def test_ctrl_c_while_the_server_stops_on_the_way_out_is_no_traceback(tmp_path: Path) -> None:
    pgdata = (tmp_path / "data" / "pg").resolve()
    with no_server_left(pgdata):
        done = subprocess.run(
            [sys.executable, "-c", INTERRUPTED, str(tmp_path / "data")],
            env=base_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        assert postmasters(pgdata) == []
