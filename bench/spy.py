"""Where the server's CPU time goes: records it with py-spy (sampling, from outside the process,
``--nonblocking`` so the server is never paused) and sums the collapsed stacks.

Only samples where the server was running Python count (py-spy leaves out idle threads), so the
shares are of the server's busy time. Waiting for PostgreSQL is not CPU and does not appear here:
the round trips are counted by probe.py instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

# (a piece of the file path, the category), tried in order on frames from the leaf up
CATEGORIES = [
    ("patron/ledger/allocation", "patron: spend allocation (ledger.allocation)"),
    ("patron/conditions", "patron: conditions"),
    ("patron/money", "patron: money rounding"),
    ("patron/checkout/engine", "patron: checkout engine (pure)"),
    ("patron/checkout/returns", "patron: returns arithmetic (pure)"),
    ("patron/api/deps", "patron: auth and program lookup (api.deps)"),
    ("patron/", "patron: services, SQL modules, presenting"),
    ("pydantic", "pydantic: validation and serialisation"),
    ("fastapi/", "FastAPI: routing, dependencies, body, response"),
    ("starlette/", "Starlette: request, response, middleware"),
    ("uvicorn/", "uvicorn: HTTP protocol and transport"),
    ("httptools", "uvicorn: HTTP protocol and transport"),
    ("h11/", "uvicorn: HTTP protocol and transport"),
    ("psycopg_pool/", "psycopg_pool: connection pool"),
    ("psycopg/", "psycopg: SQL driver (params, rows, protocol)"),
    ("orjson", "JSON"),
    ("json/", "JSON"),
    ("anyio/", "anyio"),
    ("asyncio/", "asyncio: event loop, tasks"),
    ("uvloop", "asyncio: event loop, tasks"),
]
# leaf frames that hand bytes to the kernel: a statement to PostgreSQL or an answer to the client.
# Sending wakes the other side; on a busy 2-core machine the server then often waits here for a CPU,
# which py-spy cannot tell from work, so these samples are shown apart.
SOCKET_LEAVES = [
    ("psycopg/_pipeline_base.py", "_communicate_gen"),
    ("psycopg/_cursor_base.py", "_send_"),
    ("psycopg/_cursor_base.py", "_execute_send"),
    ("psycopg/_connection_base.py", "_exec_command"),
    ("psycopg/waiting.py", "wait"),
    ("uvicorn/protocols/http/httptools_impl.py", "RequestResponseCycle.send"),
]
SOCKET = "socket calls: sending SQL to PostgreSQL, answers to the client"
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


RATE = 100  # samples per second


def start(
    pid: int, seconds: float, output: Path, rate: int = RATE, subprocesses: bool = False
) -> subprocess.Popen[bytes] | None:
    """Starts recording ``pid`` (and its children) for ``seconds`` as collapsed stacks; None without py-spy."""
    binary = py_spy()
    if binary is None:
        return None
    command = [binary, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate)]
    command += ["--format", "raw", "--nonblocking", "--output", str(output)]
    if subprocesses:
        command.append("--subprocesses")
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _frame(text: str) -> tuple[str, str]:
    match = _FRAME.match(text)
    if not match:
        return text, ""
    path = match["file"]
    for marker in ("site-packages/", "/src/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return match["func"], path


def _category(frames: list[tuple[str, str]]) -> str:
    func, path = frames[-1]
    if any(piece in path and name in func for piece, name in SOCKET_LEAVES):
        return SOCKET
    for _, path in reversed(frames):
        for piece, name in CATEGORIES:
            if piece in path:
                return name
    return "other (stdlib called from the event loop)"


def summarise(raw: Path, top: int = 25) -> dict[str, Any]:
    """Shares (% of busy samples) by category, by function's own time, and inclusive for Patron."""
    total = 0
    by_category: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(part) for part in stack.split(";")]
        total += n
        by_category[_category(frames)] += n
        func, path = frames[-1]
        own[f"{func} ({path})"] += n
        for name in {f"{f} ({p})" for f, p in frames if p.startswith("patron/") or "fastapi/routing" in p}:
            inclusive[name] += n

    def share(counter: Counter[str], limit: int) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(limit)] if total else []

    socket = by_category.pop(SOCKET, 0)
    work = total - socket
    return {
        "samples": total,
        "socket_pct": round(100 * socket / total, 1) if total else None,
        "by_category": share(by_category, 50),
        "by_category_of_work": [(name, round(100 * n / work, 1)) for name, n in by_category.most_common()]
        if work
        else [],
        "own_time": share(own, top),
        "inclusive_patron": share(inclusive, top),
    }
