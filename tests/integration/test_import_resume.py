"""``patron import`` as a user runs it: killed with SIGKILL in the middle, run again, run a third
time. Nothing loads twice, nothing is lost, and the rejects are each written once."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from patron.db.pool import Database
from patron.importer import runner
from tests.integration.conftest import Tenant
from tests.integration.test_import import count, verified, write_csv

PATRON = Path(sys.executable).parent / "patron"
RECEIPTS = 6000
BAD_EVERY = 50  # every 50th receipt names a store that does not exist


def receipts_file(path: Path) -> tuple[Path, int, int, int]:
    """(file, good receipts, good lines, bad lines)."""
    rows: list[list[object]] = []
    good_receipts = good_lines = bad_lines = 0
    for n in range(RECEIPTS):
        lines = 1 + n % 3
        bad = n % BAD_EVERY == 7
        member = f"+7900400{n % 40:04d}" if n % 2 else ""
        for i in range(lines):
            earned = (n + i) % 5 if member else 0
            spent = 1 if member and n % 7 == 1 else 0
            rows.append(
                [
                    "NOPE" if bad else "S1",
                    f"N{n}",
                    "2025-06-01T10:00:00+03:00",
                    member,
                    f"SKU{i}",
                    1 + i,
                    "12.30",
                    spent,
                    earned,
                ]
            )
        if bad:
            bad_lines += lines
        else:
            good_receipts += 1
            good_lines += lines
    header = [
        "store",
        "number",
        "at",
        "member_phone",
        "sku",
        "quantity",
        "price",
        "points_spent",
        "points_earned",
    ]
    return write_csv(path, header, rows), good_receipts, good_lines, bad_lines


def env(database_url: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("PATRON_DATABASE_URL", "PATRON_DATA_DIR")}
    out.update(PATRON_DATABASE_URL=database_url, COLUMNS="200")
    return out


def progress(database_url: str, tenant_id: int) -> tuple[int, bool]:
    """(batches committed, finished) of the tenant's receipts import."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT batches, finished_at IS NOT NULL FROM import_runs WHERE tenant_id = %s AND kind = 'receipts'",
            (tenant_id,),
        ).fetchone()
    return (0, False) if row is None else (int(row[0]), bool(row[1]))


async def test_killed_import_resumes_and_loads_nothing_twice(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    stores = write_csv(tmp_path / "stores.csv", ["code", "name"], [["S1", "One"]])
    members = write_csv(tmp_path / "members.csv", ["phone"], [[f"+7900400{i:04d}"] for i in range(40)])
    for kind, path in (("stores", stores), ("members", members)):
        await asyncio.to_thread(runner.run, database_url, tenant.slug, kind, path)
    path, good_receipts, good_lines, bad_lines = receipts_file(tmp_path / "receipts.csv")
    command = [str(PATRON), "import", "receipts", str(path), "--tenant", tenant.slug, "--batch-rows", "100"]

    first = subprocess.Popen(command, env=env(database_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while progress(database_url, tenant.tenant_id)[0] < 3:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the import did not commit three batches in time"
        await asyncio.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    finished = progress(database_url, tenant.tenant_id)[1]
    assert not finished, "the import finished before it was killed: make the file larger"
    loaded_when_killed = await count(db, tenant, "receipt_lines")
    assert 0 < loaded_when_killed < good_lines

    second = await asyncio.to_thread(
        subprocess.run, command, env=env(database_url), capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0, second.stderr
    assert "resumed at line" in second.stderr
    assert "verify: ok" in second.stderr
    assert await count(db, tenant, "receipts") == good_receipts
    assert await count(db, tenant, "receipt_lines") == good_lines
    assert await count(db, tenant, "import_rejects") == bad_lines
    with (tmp_path / "receipts.csv.rejects.csv").open(newline="") as f:
        rejected = list(csv.reader(f))[1:]
    assert len(rejected) == bad_lines
    assert len({row[0] for row in rejected}) == bad_lines  # each bad line once
    reasons = {row[1] for row in rejected}
    assert "store: no store 'NOPE'" in reasons
    assert all(r == "store: no store 'NOPE'" or r.endswith("of this receipt was rejected") for r in reasons)
    await verified(db, tenant)

    third = await asyncio.to_thread(
        subprocess.run, command, env=env(database_url), capture_output=True, text=True, timeout=120
    )
    assert third.returncode == 0, third.stderr
    assert "was imported already: nothing to load" in third.stderr
    assert await count(db, tenant, "receipt_lines") == good_lines
    assert progress(database_url, tenant.tenant_id)[1]


async def test_a_finished_import_loads_nothing_again(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "stores.csv", ["code", "name"], [["S1", "One"], ["S2", ""]])
    first = await asyncio.to_thread(runner.run, database_url, tenant.slug, "stores", path)
    assert (first.loaded, first.rejected, first.already_done) == (1, 1, False)
    again = await asyncio.to_thread(runner.run, database_url, tenant.slug, "stores", path)
    assert (again.already_done, again.rows, again.loaded) == (True, 0, 0)
    assert (again.total_loaded, again.total_rejected) == (1, 1)
    assert again.rejects_file is not None and again.rejects_file.exists()
    assert await count(db, tenant, "stores") == 1
    # The same rows in a file with other content are a new import: the store exists already.
    other = write_csv(tmp_path / "other.csv", ["code", "name"], [["S1", "One"], ["S3", "Three"]])
    report = await asyncio.to_thread(runner.run, database_url, tenant.slug, "stores", other)
    assert (report.loaded, report.rejected) == (1, 1)
