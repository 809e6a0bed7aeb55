"""Import benchmark: ``patron import`` of each kind against a raw COPY of the same rows.

Generates seeded files of every kind (stores, products, members, lots, receipt lines), imports them
into a fresh database on one server, and for each kind COPYs the same file into a bare table
(the file's columns with their types, no constraints, no indexes) on the same database in the
same run. Reports rows/s and MB/s of both and their ratio, where the import's time goes (the
preparing thread, the loading thread), the receipts load through a staging table for comparison,
the time of ``patron verify``, the machine's load, and an extrapolation to 1 TB.

    .venv/bin/python bench/import_bench.py --lines 1000000
    .venv/bin/python bench/import_bench.py --lines 200000 --format parquet

The server: ``--server URL`` (an admin URL), else PATRON_TEST_DATABASE_URL, else an embedded one.
Prints a Markdown section for BENCHMARKS.md on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from patron.db import migrate
from patron.db.url import with_database
from patron.importer import runner
from patron.importer.copytext import Table

ZONES = ["Europe/Moscow", "Europe/Kaliningrad", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Europe/Samara"]
BRANDS = ["Columbia", "Salomon", "Acme", "Nordica", "Fischer", "Atomic", "Head", "Rossignol"]
CATEGORIES = ["jackets", "pants", "boots", "skis", "poles", "gloves", "hats", "socks"]
CHUNK = 1 << 20

# The file's columns and their types in the bare table of the raw COPY.
TYPES = {
    "stores": {"code": "text", "name": "text", "country": "text", "city": "text", "timezone": "text"},
    "products": {"sku": "text", "name": "text", "brand": "text", "category": "text", "size": "text"},
    "members": {
        "phone": "text",
        "email": "text",
        "name": "text",
        "birthday": "date",
        "city": "text",
        "cards": "text",
        "consent_sms": "boolean",
        "consent_email": "boolean",
    },
    "lots": {
        "member_phone": "text",
        "points": "bigint",
        "remaining": "bigint",
        "available_from": "timestamptz",
        "expires_at": "timestamptz",
        "spend_condition": "text",
        "kind": "text",
    },
    "receipts": {
        "store": "text",
        "number": "text",
        "at": "timestamptz",
        "member_phone": "text",
        "sku": "text",
        "quantity": "integer",
        "price": "numeric",
        "discount": "numeric",
        "points_spent": "bigint",
        "points_earned": "bigint",
    },
}


@dataclass(frozen=True)
class Sizes:
    stores: int
    products: int
    members: int
    lines: int


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- files -----------------------------------------------------------------------------------


def generate(folder: Path, sizes: Sizes, seed: int) -> dict[str, Path]:
    """Seeded CSV files of every kind; written row by row, so memory stays flat."""
    rnd = random.Random(seed)
    paths = {kind: folder / f"{kind}.csv" for kind in TYPES}

    def write(kind: str, rows: Iterator[list[object]]) -> None:
        with paths[kind].open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(list(TYPES[kind]))
            out.writerows(rows)

    write(
        "stores",
        (
            [f"S{i:04d}", f"Store {i}", "RU", f"City {i % 50}", ZONES[i % len(ZONES)]]
            for i in range(sizes.stores)
        ),
    )
    write(
        "products",
        (
            [
                f"P{i:06d}",
                f"Product {i}",
                rnd.choice(BRANDS),
                rnd.choice(CATEGORIES),
                str(rnd.randint(36, 48)),
            ]
            for i in range(sizes.products)
        ),
    )
    write(
        "members",
        (
            [
                phone(i),
                f"m{i}@example.com" if i % 2 else "",
                f"Member {i}",
                f"19{rnd.randint(50, 99)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
                f"City {i % 50}",
                f"C{i:08d}" + (f"|D{i:08d}" if i % 5 == 0 else ""),
                "true" if i % 3 else "false",
                "false",
            ]
            for i in range(sizes.members)
        ),
    )

    def lots() -> Iterator[list[object]]:
        for i in range(sizes.members):
            for _ in range(rnd.randint(1, 2)):
                points = rnd.randint(10, 5000)
                start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=rnd.randint(0, 500))
                yield [
                    phone(i),
                    points,
                    rnd.randint(0, points) if rnd.random() < 0.5 else "",
                    start.isoformat(),
                    (start + timedelta(days=365)).isoformat(),
                    "brand = 'Columbia'" if rnd.random() < 0.1 else "",
                    "gift" if rnd.random() < 0.1 else "",
                ]

    write("lots", lots())

    def lines() -> Iterator[list[object]]:
        written, number = 0, 0
        start = datetime(2025, 1, 1, tzinfo=UTC)
        while written < sizes.lines:
            number += 1
            count = min(rnd.randint(1, 9), sizes.lines - written)
            member = phone(rnd.randrange(sizes.members)) if rnd.random() < 0.7 else ""
            at = (start + timedelta(seconds=number * 17)).isoformat()
            store = f"S{rnd.randrange(sizes.stores):04d}"
            spend = bool(member) and rnd.random() < 0.1
            for _ in range(count):
                quantity = rnd.randint(1, 3)
                cents = rnd.randint(100, 999_999)
                amount = cents * quantity
                spent = rnd.randint(1, amount // 200) if spend and amount >= 200 else 0
                earned = (amount // 100 - spent) // 20 if member else 0
                yield [
                    store,
                    f"N{number}",
                    at,
                    member,
                    f"P{rnd.randrange(sizes.products):06d}",
                    quantity,
                    f"{cents // 100}.{cents % 100:02d}",
                    "0.00",
                    spent,
                    max(earned, 0),
                ]
                written += 1

    write("receipts", lines())
    return paths


def phone(i: int) -> str:
    return f"+7900{i:07d}"


def to_parquet(path: Path, kind: str) -> Path:
    """The same rows as Parquet with typed columns, written batch by batch."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    types = {
        "text": pa.string(),
        "date": pa.date32(),
        "boolean": pa.bool_(),
        "bigint": pa.int64(),
        "integer": pa.int64(),
        "timestamptz": pa.timestamp("us", tz="UTC"),
        "numeric": pa.decimal128(18, 2),
    }
    column_types = {name: types[kind_type] for name, kind_type in TYPES[kind].items()}
    target = path.with_suffix(".parquet")
    options = pacsv.ConvertOptions(column_types=column_types, strings_can_be_null=False)
    reader = pacsv.open_csv(
        path, convert_options=options, read_options=pacsv.ReadOptions(block_size=16 << 20)
    )
    with pq.ParquetWriter(target, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch, row_group_size=128_000)
    return target


# --- database ----------------------------------------------------------------------------------


def admin_url(args: argparse.Namespace, folder: Path) -> str:
    if args.server:
        return str(args.server)
    if os.environ.get("PATRON_TEST_DATABASE_URL"):
        return os.environ["PATRON_TEST_DATABASE_URL"]
    from patron.db import embedded

    return embedded.start(folder / "embedded")


def fresh_database(admin: str) -> str:
    name = f"patron_import_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(admin, name)
    migrate.upgrade(url)
    return url


def drop_database(admin: str, url: str) -> None:
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_tenant(url: str, slug: str) -> None:
    from patron.db.pool import Database
    from patron.tenants import service

    async def work() -> None:
        db = Database(url, min_size=1, max_size=1)
        await db.open()
        try:
            async with db.transaction() as conn:
                await service.create(conn, slug, currency="RUB", timezone="Europe/Moscow", country="RU")
        finally:
            await db.close()

    asyncio.run(work())


def raw_copy(url: str, kind: str, path: Path) -> float:
    """Seconds to COPY the CSV file as it is into a bare table of its columns (no constraints)."""
    table = sql.Identifier(f"raw_{kind}")
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind_type))
        for name, kind_type in TYPES[kind].items()
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
        began = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv, HEADER true)").format(table)) as copy,
            path.open("rb") as f,
        ):
            while chunk := f.read(CHUNK):
                copy.write(chunk)
        seconds = time.perf_counter() - began
        conn.execute(sql.SQL("DROP TABLE {}").format(table))
    return seconds


def output_floor(url: str, slug: str, path: Path, batch_rows: int) -> tuple[float, dict[str, int]]:
    """Seconds to COPY the rows a receipts import writes (receipts, lines, entries, lots,
    allocations, prepared again by the importer's own code) into bare tables of the same columns:
    what the extra volume costs, without the constraints, indexes and triggers of the real ones."""
    from patron.importer import reader, receipts, store
    from patron.importer.batch import Context, Header
    from patron.program.settings import Program

    written: dict[str, int] = {}
    seconds = 0.0
    with store.connect(url) as conn:
        found = store.tenant(conn, slug)
        assert found is not None
        tenant_id, settings = found
        ctx = Context(
            tenant_id,
            Program.model_validate(settings),
            datetime.now(UTC),
            runner._Lookup(conn, tenant_id),
            "floor",
        )
        source = reader.open_source(path, "csv", None)
        kind = receipts.Receipts(Header.check(source.header, receipts.COLUMNS), ctx)
        created: set[str] = set()
        for rows, _ in reader.batches(source, batch_rows, kind.group_key):
            prepared = kind.prepare(rows)
            for table in kind.tables(prepared):
                bare = sql.Identifier(f"bare_{table.name}")
                if table.name not in created:
                    columns = sql.SQL(", ").join(map(sql.Identifier, table.columns))
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(bare))
                    conn.execute(
                        sql.SQL("CREATE TABLE {} AS SELECT {} FROM {} WITH NO DATA").format(
                            bare, columns, sql.Identifier(table.name)
                        )
                    )
                    created.add(table.name)
                bare_table = copy_of(table, f"bare_{table.name}")
                began = time.perf_counter()
                with conn.transaction():
                    store.copy(conn, bare_table)
                seconds += time.perf_counter() - began
                written[table.name] = written.get(table.name, 0) + table.rows
        source.close()
        for name in created:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(f"bare_{name}")))
    return seconds, written


def copy_of(table: Table, name: str) -> Table:
    out = Table(name, table.columns)
    out.parts, out.rows = table.parts, table.rows
    return out


def verify_seconds(url: str, tenant_id: int) -> tuple[float, int]:
    from patron.importer.command import _verify

    began = time.perf_counter()
    failures = asyncio.run(_verify(url, tenant_id))
    return time.perf_counter() - began, len(failures)


# --- the run --------------------------------------------------------------------------------


@dataclass
class Result:
    kind: str
    rows: int
    megabytes: float
    raw_seconds: float
    report: runner.Report
    label: str = ""

    @property
    def seconds(self) -> float:
        return self.report.seconds


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000, help="receipt lines (the largest kind)")
    parser.add_argument("--members", type=int, default=None, help="default: lines / 10")
    parser.add_argument("--products", type=int, default=None, help="default: lines / 20")
    parser.add_argument("--stores", type=int, default=300)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--batch-rows", type=int, default=runner.BATCH_ROWS)
    parser.add_argument("--workers", type=int, default=1, help="loader connections of the import")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--server", help="admin URL of the PostgreSQL server to use")
    parser.add_argument("--no-staging", action="store_true", help="skip the receipts-through-staging run")
    parser.add_argument("--keep", action="store_true", help="keep the database and files")
    args = parser.parse_args()
    sizes = Sizes(
        stores=args.stores,
        products=args.products or max(args.lines // 20, 100),
        members=args.members or max(args.lines // 10, 100),
        lines=args.lines,
    )
    folder = Path(tempfile.mkdtemp(prefix="patron-import-bench-"))
    load_before = os.getloadavg()
    log(f"generating files in {folder} ({sizes})")
    began = time.perf_counter()
    paths = generate(folder, sizes, args.seed)
    log(f"  {time.perf_counter() - began:.1f} s")
    admin = admin_url(args, folder)
    url = fresh_database(admin)
    results: list[Result] = []
    verify_times: list[tuple[str, float, int]] = []
    floor: tuple[float, dict[str, int]] = (0.0, {})
    cpu_before = cpu_seconds()
    try:
        create_tenant(url, "bench")
        for kind in TYPES:
            path = paths[kind]
            source = to_parquet(path, kind) if args.format == "parquet" else path
            rows = sum(1 for _ in path.open("rb")) - 1
            log(f"{kind}: {rows:,} rows; raw COPY ...")
            raw = raw_copy(url, kind, path)
            log(f"  raw COPY {raw:.2f} s; import ...")
            report = runner.run(
                url, "bench", kind, source, fmt=args.format, batch_rows=args.batch_rows, workers=args.workers
            )
            log(
                f"  import {report.seconds:.2f} s (prepare {report.prepare_seconds:.2f} s,"
                f" load {report.load_seconds:.2f} s), {report.rejected} rejected"
            )
            results.append(Result(kind, rows, source.stat().st_size / 1e6, raw, report))
        seconds, failed = verify_seconds(url, results[0].report.tenant_id)
        verify_times.append(("bench", seconds, failed))
        log("receipts' rows into bare tables ...")
        floor = output_floor(url, "bench", paths["receipts"], args.batch_rows)
        log(f"  {floor[0]:.2f} s")
        if not args.no_staging:
            create_tenant(url, "staging")
            for kind in ("stores", "members"):
                runner.run(url, "staging", kind, paths[kind], fmt="csv", batch_rows=args.batch_rows)
            path = paths["receipts"]
            log("receipts through a staging table ...")
            raw = raw_copy(url, "receipts", path)
            report = runner.run(
                url, "staging", "receipts", path, fmt="csv", batch_rows=args.batch_rows, staging=True
            )
            log(f"  import {report.seconds:.2f} s")
            rows = results[-1].rows
            results.append(
                Result(
                    "receipts",
                    rows,
                    path.stat().st_size / 1e6,
                    raw,
                    report,
                    "staging, then INSERT ... SELECT",
                )
            )
            seconds, failed = verify_seconds(url, report.tenant_id)
            verify_times.append(("staging", seconds, failed))
    finally:
        if not args.keep:
            drop_database(admin, url)
            for path in folder.glob("*"):
                if path.is_file():
                    path.unlink()
            if not any(folder.iterdir()):
                folder.rmdir()
    cpu_used = cpu_seconds() - cpu_before
    print(markdown(results, verify_times, floor, sizes, args, load_before, os.getloadavg(), cpu_used, admin))


def markdown(
    results: list[Result],
    verify_times: list[tuple[str, float, int]],
    floor: tuple[float, dict[str, int]],
    sizes: Sizes,
    args: argparse.Namespace,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
    cpu_used: float,
    admin: str,
) -> str:
    with psycopg.connect(admin) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'), current_setting('shared_buffers')"
        ).fetchone()
    version, buffers = row if row else ("?", "?")
    out = [
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: `bench/import_bench.py --lines {sizes.lines}"
        f" --format {args.format} --batch-rows {args.batch_rows} --workers {args.workers}` (seed {args.seed}); PostgreSQL {version}"
        f" (shared_buffers {buffers}) on the same {os.cpu_count()}-core machine as the benchmark; load average"
        f" {load_before[0]:.2f} before, {load_after[0]:.2f} after; the benchmark process used {cpu_used:.0f} s of CPU"
        f" and at most {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB of memory.",
        "",
        "| kind | rows | MB | raw COPY rows/s | import rows/s | import MB/s | import / raw COPY | prepare s | load s | 1 TB would take |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rate = r.rows / r.seconds
        mbs = r.megabytes / r.seconds
        hours = 1e6 / mbs / 3600
        name = r.kind + (f" ({r.label})" if r.label else "")
        out.append(
            f"| {name} | {r.rows:,} | {r.megabytes:.1f} | {r.rows / r.raw_seconds:,.0f} | {rate:,.0f} | {mbs:.2f} |"
            f" {r.raw_seconds / r.seconds:.3f} | {r.report.prepare_seconds:.1f} | {r.report.load_seconds:.1f} |"
            f" {hours:,.0f} h |"
        )
    out.append("")
    receipts = next(r for r in results if r.kind == "receipts" and not r.label)
    floor_seconds, written = floor
    if written:
        total = sum(written.values())
        out.append(
            f"The receipts import wrote {total:,} rows for the file's {receipts.rows:,}"
            f" ({', '.join(f'{n:,} {name}' for name, n in written.items())}). COPYing exactly those rows into"
            f" bare tables (same columns, no constraints, indexes or triggers) takes {floor_seconds:.1f} s"
            f" ({receipts.raw_seconds / floor_seconds:.2f} of the raw COPY's speed); into the real tables the"
            f" import's loaders spent {receipts.report.load_seconds:.1f} s in the database."
        )
        out.append("")
    steps = sorted(receipts.report.load_steps.items(), key=lambda item: -item[1])
    if steps:
        out.append(
            "Where the receipts loaders' time went: "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps)
            + " (`keys`: BEGIN and the uniqueness checks; a table: its COPY with its checks, indexes"
            " and triggers; `finish`: marks, rejects, the wait for earlier batches, the run's position,"
            " the commit)."
        )
        out.append("")
    for tenant, seconds, failed in verify_times:
        out.append(
            f"`patron verify` of tenant {tenant}: {seconds:.1f} s, {'clean' if not failed else f'{failed} checks FAILED'}."
        )
    return "\n".join(out)


if __name__ == "__main__":
    main()
