"""SQL for imports: progress and rejects, lookups, uniqueness checks, id blocks, and COPY.

Synchronous psycopg: an import streams COPY data from a worker thread while the main thread
prepares the next batch, which is plainer with threads than with asyncio. psycopg connections
are thread-safe (each call holds the connection's lock)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql

from patron.db.pool import CLIENT_GONE_CHECK
from patron.importer import values
from patron.importer.batch import Members, Reject
from patron.importer.copytext import Table
from patron.importer.reader import Position

Conn = psycopg.Connection[tuple[Any, ...]]


def connect(url: str) -> Conn:
    conn = psycopg.connect(url, autocommit=True)
    # A batch's commit may be lost only in a crash of the server, and then its progress row is
    # lost with it, so a rerun loads it again: waiting for the disk at each commit buys nothing.
    conn.execute("SET synchronous_commit = off")
    # a killed import's COPY or INSERT stops in the backend too (see pool.CLIENT_GONE_CHECK)
    with contextlib.suppress(psycopg.errors.InvalidParameterValue):
        conn.execute(CLIENT_GONE_CHECK)
    return conn


@dataclass(frozen=True, slots=True)
class RunKey:
    tenant_id: int
    kind: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class RunState:
    position: Position
    rows_read: int
    loaded: int
    records: int
    rejected: int
    batches: int
    columns: list[str]
    started_at: datetime
    finished_at: datetime | None


def tenant(conn: Conn, slug: str) -> tuple[int, dict[str, Any]] | None:
    row = conn.execute("SELECT id, settings FROM tenants WHERE slug = %s", (slug,)).fetchone()
    return None if row is None else (int(row[0]), row[1])


def lock_run(conn: Conn, key: RunKey) -> bool:
    """A session lock, so that two processes never import the same file at once (a killed
    process's lock goes with its connection)."""
    row = conn.execute(
        "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
        (f"patron-import:{key.tenant_id}:{key.kind}:{key.fingerprint}",),
    ).fetchone()
    return bool(row and row[0])


def start_run(
    conn: Conn, key: RunKey, *, file_name: str, file_size: int, fmt: str, columns: list[str], start: Position
) -> RunState:
    """The run's progress so far; a new run starts at ``start``."""
    conn.execute(
        "INSERT INTO import_runs (tenant_id, kind, fingerprint, file_name, file_size, format, columns,"
        " position, line) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (
            key.tenant_id,
            key.kind,
            key.fingerprint,
            file_name,
            file_size,
            fmt,
            columns,
            start.offset,
            start.line,
        ),
    )
    row = conn.execute(
        "SELECT position, line, rows_read, loaded, records, rejected, batches, columns, started_at, finished_at"
        " FROM import_runs WHERE tenant_id = %s AND kind = %s AND fingerprint = %s",
        (key.tenant_id, key.kind, key.fingerprint),
    ).fetchone()
    assert row is not None
    return RunState(Position(row[0], row[1]), *row[2:])


def advance(
    conn: Conn, key: RunKey, after: Position, *, rows: int, loaded: int, records: int, rejected: int
) -> None:
    conn.execute(
        "UPDATE import_runs SET position = %s, line = %s, rows_read = rows_read + %s, loaded = loaded + %s,"
        " records = records + %s, rejected = rejected + %s, batches = batches + 1, updated_at = now()"
        " WHERE tenant_id = %s AND kind = %s AND fingerprint = %s",
        (after.offset, after.line, rows, loaded, records, rejected, key.tenant_id, key.kind, key.fingerprint),
    )


def finish(conn: Conn, key: RunKey) -> None:
    conn.execute(
        "UPDATE import_runs SET finished_at = now(), updated_at = now()"
        " WHERE tenant_id = %s AND kind = %s AND fingerprint = %s AND finished_at IS NULL",
        (key.tenant_id, key.kind, key.fingerprint),
    )


def save_rejects(conn: Conn, key: RunKey, rejects: Sequence[Reject]) -> None:
    if not rejects:
        return
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY import_rejects (tenant_id, kind, fingerprint, line, reason, cells) FROM STDIN"
        ) as copy,
    ):
        for reject in rejects:
            cells = [None if value is None else _text(value) for value in reject.values]
            reason = _text(reject.reason)
            copy.write_row((key.tenant_id, key.kind, key.fingerprint, reject.line, reason, cells))


def _text(value: object) -> str:
    """A cell as stored text; a NUL character, which PostgreSQL's text cannot hold (and which is
    often why the row was rejected), is kept as the four characters ``\\x00``."""
    return values.cell_text(value).replace("\x00", "\\x00")


def rejects(conn: Conn, key: RunKey) -> Iterator[tuple[int, str, list[str | None]]]:
    """Every rejected row of the run, by line, read in pages (a server-side cursor)."""
    with conn.transaction(), conn.cursor(name="import_rejects") as cur:
        cur.itersize = 10_000
        cur.execute(
            "SELECT line, reason, cells FROM import_rejects WHERE tenant_id = %s AND kind = %s"
            " AND fingerprint = %s ORDER BY line",
            (key.tenant_id, key.kind, key.fingerprint),
        )
        for row in cur:
            yield row[0], row[1], row[2]


# --- what a batch refers to ----------------------------------------------------------------


def stores(conn: Conn, tenant_id: int) -> dict[str, str | None]:
    """Every store's code and time zone."""
    cur = conn.execute("SELECT code, timezone FROM stores WHERE tenant_id = %s", (tenant_id,))
    return {code: zone for code, zone in cur.fetchall()}


def members(conn: Conn, tenant_id: int, ids: set[str], phones: set[str], cards: set[str]) -> Members:
    found_ids: set[str] = set()
    by_phone: dict[str, str] = {}
    by_card: dict[str, str] = {}
    if ids:
        cur = conn.execute(
            "SELECT id::text FROM members WHERE tenant_id = %s AND id = ANY(%s::uuid[])",
            (tenant_id, list(ids)),
        )
        found_ids = {row[0] for row in cur.fetchall()}
    if phones:
        cur = conn.execute(
            "SELECT phone, id::text FROM members WHERE tenant_id = %s AND phone = ANY(%s)",
            (tenant_id, list(phones)),
        )
        by_phone = dict(cur.fetchall())
    if cards:
        cur = conn.execute(
            "SELECT card, member_id::text FROM cards WHERE tenant_id = %s AND card = ANY(%s)",
            (tenant_id, list(cards)),
        )
        by_card = dict(cur.fetchall())
    return Members(found_ids, by_phone, by_card)


def lowered(conn: Conn, texts: set[str]) -> dict[str, str]:
    """Each of ``texts`` as PostgreSQL lowers it: the form a unique index on lower(...) compares,
    which Python's str.lower() does not always give ("İ" is "i" here, "i̇" in Python)."""
    if not texts:
        return {}
    cur = conn.execute("SELECT t, lower(t) FROM unnest(%s::text[]) AS t", (list(texts),))
    return dict(cur.fetchall())


_SEQUENCES = {"entries": "entries", "lots": "lots"}


def reserve(conn: Conn, table: str, count: int) -> list[int]:
    """``count`` fresh values of ``table``'s identity column, to write rows that refer to each
    other (a lot to its entry, an allocation to both) in one COPY each. COPY writes the given
    values into an identity column as INSERT ... OVERRIDING SYSTEM VALUE would."""
    if count <= 0:
        return []
    cur = conn.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
        (_SEQUENCES[table], count),
    )
    return [row[0] for row in cur.fetchall()]


# --- uniqueness ------------------------------------------------------------------------------

_TAKEN = {
    "store": "SELECT code FROM stores WHERE tenant_id = %s AND code = ANY(%s)",
    "product": "SELECT sku FROM products WHERE tenant_id = %s AND sku = ANY(%s)",
    "member_id": "SELECT id::text FROM members WHERE tenant_id = %s AND id = ANY(%s::uuid[])",
    "phone": "SELECT phone FROM members WHERE tenant_id = %s AND phone = ANY(%s)",
    "email": "SELECT lower(email) FROM members WHERE tenant_id = %s AND lower(email) = ANY(%s)",
    "card": "SELECT card FROM cards WHERE tenant_id = %s AND card = ANY(%s)",
    "lot": "SELECT source ->> 'import_key' FROM lots WHERE tenant_id = %s AND source ? 'import_key'"
    " AND source ->> 'import_key' = ANY(%s)",
}


def taken(conn: Conn, tenant_id: int, what: str, keys: list[Any]) -> set[Any]:
    """Which of ``keys`` exist already."""
    if not keys:
        return set()
    if what == "receipt":
        # One probe of the unique index a key (LATERAL with LIMIT keeps it a nested loop), so a
        # batch costs the same however many receipts the tenant has. With a join, the planner
        # (its statistics taken before the import) hashed the batch's keys and read all of the
        # tenant's receipts, once a batch (EXPLAIN ANALYZE of 4,000 keys against 56,000
        # receipts: 14.4 ms, and growing with every batch; the probes: 8.3 ms).
        cur = conn.execute(
            "SELECT k.store, k.number FROM unnest(%s::text[], %s::text[]) AS k(store, number),"
            " LATERAL (SELECT 1 FROM receipts r WHERE r.tenant_id = %s AND r.store = k.store"
            " AND r.number = k.number LIMIT 1) found",
            ([k[0] for k in keys], [k[1] for k in keys], tenant_id),
        )
        return {(row[0], row[1]) for row in cur.fetchall()}
    cur = conn.execute(_TAKEN[what], (tenant_id, keys))
    return {row[0] for row in cur.fetchall()}


# --- loading -------------------------------------------------------------------------------


def copy(conn: Conn, table: Table, *, staging: bool = False) -> None:
    """Streams ``table``'s rows into it with COPY; with ``staging``, COPY into a temporary table
    first and then INSERT ... SELECT (measured by the benchmark; the direct way is the default)."""
    if not table.rows:
        return
    columns = sql.SQL(", ").join(map(sql.Identifier, table.columns))
    target = sql.Identifier(table.name)
    into = target
    if staging:
        into = sql.Identifier(f"import_stage_{table.name}")
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DELETE ROWS AS SELECT {} FROM {} WITH NO DATA"
            ).format(into, columns, target)
        )
    payload = table.payload()
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(into, columns)) as stream:
        step = 1 << 20
        for start in range(0, len(payload), step):
            stream.write(payload[start : start + step])
    if staging:
        conn.execute(
            sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}").format(
                target, columns, columns, into
            )
        )


def loader(url: str) -> Conn:
    """A loader's connection. Each of its transactions marks the dashboard's changed days itself
    (``mark_days``), so the per-row triggers skip its rows (migration 0015). Set once for the
    connection rather than with each batch: a statement less a batch, and the connection is the
    run's own."""
    conn = connect(url)
    conn.execute("SET patron.dashboard_marks = 'by_writer'")
    return conn


def mark_days(conn: Conn, tenant_id: int, days: set[date]) -> None:
    """Marks UTC days for the dashboard to sum again, as the triggers would for each row."""
    if days:
        conn.execute(
            "INSERT INTO dashboard_marks (tenant_id, day) SELECT %s, unnest(%s::date[]) ON CONFLICT DO NOTHING",
            (tenant_id, sorted(days)),
        )


def analyze(conn: Conn, tables: list[str]) -> None:
    conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(map(sql.Identifier, tables))))
