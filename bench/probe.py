"""How many SQL statements each kind of checkout request sends, and how long they take with no
concurrency. Runs the app in this process (httpx's ASGI transport, the same app that ``patron
serve`` builds) so the statements can be counted where psycopg sends them: every
``execute``/``executemany`` and every BEGIN/COMMIT is one round trip to PostgreSQL.

Diagnostic only: the figures of the benchmark come from the real server in its own process.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Recorder:
    active: bool = False
    statements: list[tuple[str, float]] = field(default_factory=list)  # (SQL, ms)
    sql_s: float = 0.0

    def note(self, query: Any, seconds: float) -> None:
        if self.active:
            self.statements.append((_text(query), round(seconds * 1000, 3)))
            self.sql_s += seconds


def _text(query: Any) -> str:
    if isinstance(query, bytes):
        text = query.decode(errors="replace")
    elif isinstance(query, str):
        text = query
    else:
        try:
            text = query.as_string(None)
        except Exception:
            text = repr(query)
    return " ".join(text.split())[:90]


def _install(recorder: Recorder) -> Callable[[], None]:
    """Wraps psycopg's statement entry points; returns the undo."""
    import psycopg
    from psycopg._connection_base import BaseConnection

    execute, executemany = psycopg.AsyncCursor.execute, psycopg.AsyncCursor.executemany
    exec_command = BaseConnection._exec_command

    async def timed_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await execute(self, query, *args, **kwargs)
        finally:
            recorder.note(query, time.perf_counter() - start)

    async def timed_executemany(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await executemany(self, query, *args, **kwargs)
        finally:
            recorder.note(query, time.perf_counter() - start)

    def timed_command(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        # BEGIN / COMMIT / ROLLBACK: a generator that psycopg drives while it waits for the answer
        start = time.perf_counter()
        try:
            return (yield from exec_command(self, command, *args, **kwargs))
        finally:
            recorder.note(command, time.perf_counter() - start)

    psycopg.AsyncCursor.execute = timed_execute  # type: ignore[method-assign]
    psycopg.AsyncCursor.executemany = timed_executemany  # type: ignore[method-assign]
    BaseConnection._exec_command = timed_command  # type: ignore[method-assign]

    def undo() -> None:
        psycopg.AsyncCursor.execute = execute  # type: ignore[method-assign]
        psycopg.AsyncCursor.executemany = executemany  # type: ignore[method-assign]
        BaseConnection._exec_command = exec_command  # type: ignore[method-assign]

    return undo


Request = tuple[str, str, Callable[[], Any], int]  # method, path (may hold {receipt}), body factory, status


async def run(
    url: str,
    api_key: str,
    requests: dict[str, Request],
    *,
    repeats: int = 10,
    receipt_for_returns: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """For each named request: statements and transactions sent, SQL time and total time (ms)."""
    import httpx

    from patron.api.app import create_app

    recorder = Recorder()
    undo = _install(recorder)
    app = create_app(url, pool_min=1, pool_max=2)
    headers = {"Authorization": f"Bearer {api_key}"}
    results: dict[str, Any] = {}
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://probe", headers=headers
            ) as client:
                for name, (method, path, body, status) in requests.items():
                    counts, sql_ms, total_ms = [], [], []
                    runs: list[list[tuple[str, float]]] = []
                    for _ in range(repeats):
                        target = path
                        if "{receipt}" in path:
                            assert receipt_for_returns is not None
                            made = await client.post("/v1/receipts", json=receipt_for_returns())
                            target = path.replace("{receipt}", made.json()["id"])
                        payload = body()
                        recorder.statements, recorder.sql_s, recorder.active = [], 0.0, True
                        start = time.perf_counter()
                        response = await client.request(method, target, json=payload)
                        total = time.perf_counter() - start
                        recorder.active = False
                        if response.status_code != status:
                            raise RuntimeError(f"probe {name}: {response.status_code} {response.text[:300]}")
                        counts.append(len(recorder.statements))
                        sql_ms.append(recorder.sql_s * 1000)
                        total_ms.append(total * 1000)
                        runs.append(recorder.statements)
                    # the sequence of the last run, each statement with its median time over the
                    # runs that sent the same sequence (the first run may also load type info)
                    last = runs[-1]
                    same = [r for r in runs if [q for q, _ in r] == [q for q, _ in last]]
                    sequence = [
                        (query, round(statistics.median(r[i][1] for r in same), 3))
                        for i, (query, _) in enumerate(last)
                    ]
                    results[name] = {
                        "statements": int(statistics.median(counts)),
                        "statements_first_run": counts[0],
                        "transactions": sum(q.upper().startswith("BEGIN") for q, _ in last),
                        "sql_ms_median": round(statistics.median(sql_ms), 2),
                        "total_ms_median": round(statistics.median(total_ms), 2),
                        "sequence": sequence,
                    }
    finally:
        undo()
    return results
