"""The embedded server's list of the processes that hold it forgets those killed with SIGKILL,
so that the last live one to exit still stops the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from patron.db.embedded import forget_dead_holders


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


def test_no_list_or_an_unreadable_one_is_left_alone(tmp_path: Path) -> None:
    forget_dead_holders(tmp_path)  # no server yet
    assert not (tmp_path / ".handle_pids.json").exists()
    (tmp_path / ".handle_pids.json").write_text("not json")
    forget_dead_holders(tmp_path)
    assert (tmp_path / ".handle_pids.json").read_text() == "not json"
