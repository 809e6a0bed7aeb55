"""The replay benchmark (issue 6): receipts per second through the checkout engine, and the time
``patron demo`` takes from start to a served, replayed year.

    .venv/bin/python bench/replay_bench.py                   # in-process replay of 5,000 baskets
    .venv/bin/python bench/replay_bench.py --sample 20000    # a longer stretch of the year
    .venv/bin/python bench/replay_bench.py --whole           # `patron demo` (whole year) until /health
    .venv/bin/python bench/replay_bench.py --whole --sample 5000
    .venv/bin/python bench/replay_bench.py --install         # a fresh venv: pip install -e '.[dev]'

In-process (the default): a fresh database on BENCH_DATABASE_URL's or PATRON_TEST_DATABASE_URL's
server (else an embedded PostgreSQL in bench/out/embedded), dropped afterwards; the same code as
``patron demo`` (``patron.demo.run``) loads and replays; the figures split the time into phases and
the CPU into this process and its PostgreSQL backends.

``--whole``: ``patron demo --port P`` as a user runs it, on a fresh embedded PostgreSQL (a new
PATRON_DATA_DIR, no PATRON_DATABASE_URL), timed from the start of the process until /health
answers, i.e. loaded, replayed and served. Then ``patron verify`` and a SIGTERM.

Each run prints a table and writes bench/out/replay-<time>.json. BENCHMARKS.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PATRON = Path(sys.executable).parent / "patron"


def _server_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("PATRON_TEST_DATABASE_URL")
    if url:
        return url
    from patron.db import embedded

    return embedded.start(OUT / "embedded")


def in_process(sample: int | None, workers: int) -> dict[str, Any]:
    from rich.console import Console

    from patron.db import migrate
    from patron.db.url import with_database
    from patron.demo import run

    server = _server_url()
    name = f"patron_replay_{uuid.uuid4().hex[:8]}"
    admin = with_database(server, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server, name)
    try:
        started = time.perf_counter()
        migrate.upgrade(url)
        migrated = time.perf_counter() - started
        # Backends come and go with the pool: sample their CPU every second, keep each one's peak.
        peaks: dict[int, float] = {}
        stop = threading.Event()

        def sample_backends() -> None:
            while not stop.is_set():
                for proc in psutil.process_iter(["name"]):
                    try:
                        if proc.info["name"] == "postgres" and f" {name} " in " ".join(proc.cmdline()) + " ":
                            cpu = proc.cpu_times()
                            peaks[proc.pid] = max(peaks.get(proc.pid, 0.0), cpu.user + cpu.system)
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        continue
                stop.wait(1.0)

        sampler = threading.Thread(target=sample_backends, daemon=True)
        sampler.start()
        own_before = sum(os.times()[:2])
        summary = run.run(url, sample=sample, console=Console(stderr=True), workers=workers)
        own = sum(os.times()[:2]) - own_before
        stop.set()
        sampler.join()
        stats = summary.stats
        return {
            "mode": "in-process",
            "sample": sample,
            "workers": workers,
            "baskets": summary.baskets,
            "receipts": stats.receipts,
            "returns": stats.returns,
            "errors": stats.errors,
            "replay_seconds": round(stats.seconds, 1),
            "receipts_per_second": round(stats.per_second, 1),
            "phases_seconds": {
                "migrate": round(migrated, 1),
                **{k: round(v, 1) for k, v in summary.timings.items()},
            },
            "cpu_seconds": {"patron": round(own, 1), "postgres_backends": round(sum(peaks.values()), 1)},
            "campaigns": summary.campaigns,
            "load_average_1min_at_end": round(os.getloadavg()[0], 1),
        }
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def whole(sample: int | None, keep: bool) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="patron-demo-", dir=OUT))
    env = {k: v for k, v in os.environ.items() if k not in ("PATRON_DATABASE_URL", "PATRON_DATA_DIR")}
    env["PATRON_DATA_DIR"] = str(data_dir)
    env["COLUMNS"] = "200"  # rich: the summary lines unwrapped in the log
    port = _free_port()
    args = [str(PATRON), "demo", "--port", str(port), *(["--sample", str(sample)] if sample else [])]
    log_path = data_dir / "demo.log"
    with log_path.open("w") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        served = None
        peaks: dict[int, float] = {}
        patron_cpu = [0.0]
        stop = threading.Event()

        def sample_cpu() -> None:
            """The demo process's CPU, and every process of its embedded PostgreSQL (each one's peak)."""
            pidfile = data_dir / "pg" / "postmaster.pid"
            while not stop.is_set():
                try:
                    cpu = psutil.Process(proc.pid).cpu_times()
                    patron_cpu[0] = cpu.user + cpu.system
                    postmaster = psutil.Process(int(pidfile.read_text().split()[0]))
                    for each in [postmaster, *postmaster.children()]:
                        times = each.cpu_times()
                        peaks[each.pid] = max(peaks.get(each.pid, 0.0), times.user + times.system)
                except (psutil.Error, OSError, ValueError, IndexError):
                    pass
                stop.wait(1.0)

        sampler = threading.Thread(target=sample_cpu, daemon=True)
        sampler.start()
        try:
            while proc.poll() is None:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        served = time.perf_counter() - started
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            at_served = (patron_cpu[0], sum(peaks.values()))
            if served is None:
                raise SystemExit(f"patron demo stopped before serving:\n{log_path.read_text()[-3000:]}")
            checked = time.perf_counter()
            verify = subprocess.run(
                [str(PATRON), "verify", "--tenant", "demo"], env=env, capture_output=True, text=True
            )
            verify_seconds = time.perf_counter() - checked
        finally:
            stop.set()
            sampler.join()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    output = log_path.read_text()
    replayed = [line for line in output.splitlines() if line.startswith("replayed ")]
    result = {
        "mode": "whole",
        "sample": sample,
        "seconds_to_served": round(served, 1),
        "replay_line": replayed[-1] if replayed else None,
        "cpu_seconds_until_served": {
            "patron_demo": round(at_served[0], 1),
            "postgres": round(at_served[1], 1),
        },
        "load_average_1min_at_end": round(os.getloadavg()[0], 1),
        "verify_ok": verify.returncode == 0,
        "verify_seconds": round(verify_seconds, 1),
    }
    if not keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


def install() -> dict[str, Any]:
    """What ``make install`` does on a fresh machine: a new venv, then pip without its cache."""
    target = Path(tempfile.mkdtemp(prefix="patron-venv-"))
    try:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        pip = target / "bin" / "pip"
        subprocess.run([str(pip), "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run(
            [str(pip), "install", "-q", "--no-cache-dir", "-e", f"{ROOT}[dev]"], check=True, cwd=ROOT
        )
        return {"mode": "install", "seconds": round(time.perf_counter() - started, 1)}
    finally:
        shutil.rmtree(target, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sample", type=int, default=None, help="baskets to replay (default 5000; --whole: all)"
    )
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--whole", action="store_true", help="time `patron demo` until it serves")
    parser.add_argument("--install", action="store_true", help="time a fresh install")
    parser.add_argument("--keep", action="store_true", help="--whole: keep the data folder")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.install:
        result = install()
    elif args.whole:
        result = whole(args.sample, args.keep)
    else:
        result = in_process(args.sample or 5000, args.workers)
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    result["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    path = OUT / f"replay-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    for key, value in result.items():
        print(f"{key:>22}: {value}")
    print(f"{'written':>22}: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
