"""Controls for the back-office benchmark (issue 5): stand-ins for the workers that do one part of
their work only (CPU spun, writes in PostgreSQL, HTTP to the provider), at about the same amount,
run in the same paused/running phases (``bench/backoffice.py --burn``, ``--burn-in-postgres``,
``--burn-http``). They tell which part of the back office the quotes feel."""

from __future__ import annotations

import subprocess
import sys

# A stand-in for the back office that does nothing but use the CPU: in each tick it spins for its
# share of the tick, then sleeps, as a worker sending a tick's slots does (BENCHMARKS.md, issue 5).
# With a database URL it spends the share inside its PostgreSQL backend instead (reniced like the
# workers'), writing and committing rows of a scratch table as the workers write messages.
BURNER = """
import os, sys, time
share, nice, tick = float(sys.argv[1]) / 100, int(sys.argv[2]), float(sys.argv[3])
url = sys.argv[4] if len(sys.argv) > 4 else None
os.nice(nice)
if url:
    import psycopg
    conn = psycopg.connect(url, autocommit=True)
    os.setpriority(os.PRIO_PROCESS, conn.execute("SELECT pg_backend_pid()").fetchone()[0], nice)
    table = f"burn_scratch_{os.getpid()}"
    conn.execute(f"CREATE TABLE {table} (n int, t text)")
while True:
    start = time.monotonic()
    while time.monotonic() - start < share * tick:
        if url:
            conn.execute(f"INSERT INTO {table} SELECT i, md5(i::text) FROM generate_series(1, 20) AS i")
    time.sleep(max(0.0, tick - (time.monotonic() - start)))
"""


# Another stand-in: only the back office's HTTP requests, ``rate`` a second to the provider, sent
# in 10 ms ticks on aiohttp as the workers send them, with nothing else (no database, no rendering).
POSTER = """
import asyncio, os, sys, time, aiohttp, orjson
rate, nice, url = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.nice(nice)
async def main():
    async with aiohttp.ClientSession() as session:
        async def post(n):
            body = orjson.dumps({"id": f"{os.getpid()}-{n}", "to": "+79001234567", "text": "Member: -20% today"})
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                await r.read()
        n, start = 0, time.monotonic()
        while True:
            due = int((time.monotonic() - start) * rate)
            n = max(n, due - int(rate / 50))  # after a pause (SIGSTOP), no catching up in a burst
            await asyncio.gather(*(post(n + i) for i in range(due - n)))
            n = due
            await asyncio.sleep(0.01)
asyncio.run(main())
"""


def start_burners(
    percent: float, count: int, nice: int | None, tick: float = 0.01, url: str | None = None
) -> list[subprocess.Popen[bytes]]:
    """``count`` processes using ``percent`` of one core between them (the control of ``--burn``),
    inside PostgreSQL with ``url``."""
    each = str(percent / count)
    command = [sys.executable, "-c", BURNER, each, str(10 if nice is None else nice), str(tick)]
    return [subprocess.Popen(command + ([url] if url else [])) for _ in range(count)]


def start_posters(rate: float, count: int, nice: int | None, url: str) -> list[subprocess.Popen[bytes]]:
    """``count`` processes posting ``rate`` requests a second between them to ``url`` (``--burn-http``)."""
    command = [sys.executable, "-c", POSTER, str(rate / count), str(10 if nice is None else nice), url]
    return [subprocess.Popen(command) for _ in range(count)]
