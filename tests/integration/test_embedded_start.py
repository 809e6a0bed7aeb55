"""The embedded PostgreSQL as an operator meets it, in real processes on temporary data folders:
whatever keeps it from starting is one line on stderr and exit status 2 (never the package's dump
of the server's log, or a traceback and 1, which ``verify`` keeps for a ledger that fails)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from patron.db import embedded
from tests.integration.test_cli import base_env, patron


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
