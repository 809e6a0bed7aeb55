"""The floor under any receipts import: what one primary key costs a COPY of receipt lines.

Issue 6 asks the receipts import for at least half of a raw COPY's speed into a bare table. This
COPYs the same generated receipt lines (tenant, receipt, line, sku, quantity, price) into a bare
table and into the same table with only a primary key on (tenant, receipt, line), interleaved
``--rounds`` times, on one database in one run, and prints the times and their ratio. A ratio
below 0.5 means that no import that keeps its lines in a table with a primary key, as the ledger
must (returns find their lines by it), can reach half of the raw COPY's speed, before any other
row, index, check or line of Python.

    .venv/bin/python bench/copy_floor.py --server postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid

import psycopg

COLUMNS = "tenant_id bigint, receipt_id bigint, line int, sku text, quantity int, price numeric(14,2)"


def lines(count: int, seed: int) -> bytes:
    """``count`` receipt lines in COPY text, in receipts of 1 to 9 lines, as the import bench's."""
    rnd = random.Random(seed)
    out, receipt, line, size = [], 0, 0, 0
    for _ in range(count):
        if line == size:
            receipt, line, size = receipt + 1, 0, rnd.randint(1, 9)
        line += 1
        price = rnd.randrange(10, 99_999) / 100
        out.append(f"7\t{receipt}\t{line}\tSKU{rnd.randrange(50_000)}\t{rnd.randint(1, 4)}\t{price:.2f}\n")
    return "".join(out).encode()


def copy_into(conn: psycopg.Connection, table: str, data: bytes) -> float:
    started = time.perf_counter()
    with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
        for at in range(0, len(data), 1 << 20):
            copy.write(data[at : at + (1 << 20)])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("PATRON_TEST_DATABASE_URL"), required=False)
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not args.server:
        parser.error("--server URL (or PATRON_TEST_DATABASE_URL) is needed")
    data = lines(args.lines, seed=1)
    suffix = uuid.uuid4().hex[:8]
    bare, keyed = f"floor_bare_{suffix}", f"floor_keyed_{suffix}"
    times: dict[str, list[float]] = {bare: [], keyed: []}
    with psycopg.connect(args.server, autocommit=True) as conn:
        try:
            for _ in range(args.rounds):
                for table, extra in ((bare, ""), (keyed, ", PRIMARY KEY (tenant_id, receipt_id, line)")):
                    conn.execute(f"DROP TABLE IF EXISTS {table}")
                    conn.execute(f"CREATE TABLE {table} ({COLUMNS}{extra})")
                    times[table].append(copy_into(conn, table, data))
        finally:
            for table in times:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
    plain, with_key = statistics.median(times[bare]), statistics.median(times[keyed])
    print(f"{args.lines:,} receipt lines, median of {args.rounds} interleaved rounds:")
    print(f"  COPY into a bare table:             {plain:.3f} s ({args.lines / plain:,.0f} rows/s)")
    print(f"  COPY into it with a primary key:    {with_key:.3f} s ({args.lines / with_key:,.0f} rows/s)")
    print(f"  speed with the key / speed without: {plain / with_key:.2f}")


if __name__ == "__main__":
    main()
