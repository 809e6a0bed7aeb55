"""Keeps the planner's statistics fresh when PostgreSQL's autovacuum does not.

Patron's hot statements are prepared once per connection and kept, and so are the plans of the
foreign-key checks that every insert runs. A plan made while a table was nearly empty (a new
database, a new tenant) can read all of a tenant's rows through the wrong index once the table
has grown: seen on a server with autovacuum off, where each receipt line's check against its
receipt scanned every receipt of the tenant. Only new statistics (ANALYZE) make PostgreSQL plan
again. Autovacuum does that; on a server where it is off, the API process does it instead, with
autovacuum's own default rule (50 changed rows plus 10% of the table since the last ANALYZE)."""

from __future__ import annotations

import asyncio
import logging

from psycopg import sql

from patron.db.pool import Connection, Database

log = logging.getLogger(__name__)

BASE_THRESHOLD = 50
SCALE_FACTOR = 0.1
# Any number that no other lock of Patron uses: only one process analyses at a time.
LOCK_KEY = 0x5041_5452_0001


async def autovacuum_on(conn: Connection) -> bool:
    cur = await conn.execute("SELECT current_setting('autovacuum') = 'on' AS on")
    row = await cur.fetchone()
    return bool(row and row["on"])


async def stale_tables(conn: Connection) -> list[str]:
    """Tables of the current schema changed by more than autovacuum's threshold since their last
    ANALYZE (never analysed counts as zero rows)."""
    cur = await conn.execute(
        "SELECT s.relname AS name FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
        " WHERE s.schemaname = current_schema()"
        " AND s.n_mod_since_analyze > %s + %s * greatest(c.reltuples, 0) ORDER BY s.relname",
        (BASE_THRESHOLD, SCALE_FACTOR),
    )
    return [row["name"] for row in await cur.fetchall()]


async def analyze_stale(conn: Connection) -> list[str]:
    """ANALYZEs the stale tables unless another process is doing it; the tables analysed.
    ``conn`` must be in a transaction (the lock lasts until its end)."""
    cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s) AS mine", (LOCK_KEY,))
    row = await cur.fetchone()
    if not (row and row["mine"]):
        return []
    tables = await stale_tables(conn)
    for table in tables:
        await conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    return tables


async def keep_fresh(db: Database, interval: float = 2.0) -> None:
    """Runs until cancelled; returns at once if autovacuum is on."""
    async with db.connection() as conn:
        if await autovacuum_on(conn):
            return
    log.warning("autovacuum is off on this server: Patron keeps table statistics itself")
    while True:
        try:
            async with db.transaction() as conn:
                analysed = await analyze_stale(conn)
            if analysed:
                log.info("analysed %s", ", ".join(analysed))
        except Exception:  # a failed round must not stop the next one
            log.exception("could not refresh table statistics")
        await asyncio.sleep(interval)
