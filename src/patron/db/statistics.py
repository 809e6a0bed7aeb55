"""Keeps the planner's statistics fresh when PostgreSQL's autovacuum does not.

Patron's hot statements are prepared once per connection and kept, and so are the plans of the
foreign-key checks that every insert runs. A plan made while a table was nearly empty (a new
database, a new tenant) can read all of a tenant's rows through the wrong index once the table
has grown: seen on a server with autovacuum off, where each receipt line's check against its
receipt scanned every receipt of the tenant. Only new statistics (ANALYZE) make PostgreSQL plan
again. Autovacuum does that; on a server where it is off, the API process does it instead, with
autovacuum's own default rule (50 changed rows plus 10% of the table since the last ANALYZE).

Autovacuum looks at a database once a minute; this keeper looks every 2 seconds, so that a new
table's first statistics come at once. A table that grows fast then met the rule on every look
(the message log during a broadcast: an ANALYZE of about 100 ms every 2 seconds), so each table
is paced by what its last ANALYZE cost: it waits ``1 / SHARE`` times that long before the next.
Small tables, whose ANALYZE takes milliseconds, are still analysed on every look they need."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from psycopg import sql

from patron.db.pool import Connection, Database

log = logging.getLogger(__name__)

BASE_THRESHOLD = 50
SCALE_FACTOR = 0.1
# Any number that no other lock of Patron uses: only one process analyses at a time.
LOCK_KEY = 0x5041_5452_0001
SHARE = 0.01  # at most this share of the time on one table's ANALYZE
COST_DELAY_MS = 2  # autovacuum's own autovacuum_vacuum_cost_delay


class Pacer:
    """Remembers what each table's last ANALYZE cost and when it ended (monotonic seconds)."""

    def __init__(self, share: float = SHARE) -> None:
        self.share = share
        self._last: dict[str, tuple[float, float]] = {}  # table -> (ended, took)

    def ready(self, table: str, now: float) -> bool:
        if table not in self._last:
            return True
        ended, took = self._last[table]
        return now - ended >= took / self.share

    def record(self, table: str, started: float, ended: float) -> None:
        self._last[table] = (ended, ended - started)


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


async def analyze_stale(
    conn: Connection, pacer: Pacer | None = None, clock: Callable[[], float] = time.monotonic
) -> list[str]:
    """ANALYZEs the stale tables (those the ``pacer`` lets through) unless another process is
    doing it; the tables analysed. ``conn`` must be in a transaction (the lock lasts until its end)."""
    cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s) AS mine", (LOCK_KEY,))
    row = await cur.fetchone()
    if not (row and row["mine"]):
        return []
    pacer = pacer or Pacer()  # none given: every stale table is ready
    # As autovacuum does: a pause every so many pages read, so that a large table's ANALYZE is
    # many short pieces of work beside the tills rather than one 100 to 170 ms burst of a core.
    await conn.execute(f"SET LOCAL vacuum_cost_delay = '{COST_DELAY_MS}ms'")
    analysed = []
    for table in await stale_tables(conn):
        started = clock()
        if not pacer.ready(table, started):
            continue
        await conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
        pacer.record(table, started, clock())
        analysed.append(table)
    return analysed


async def keep_fresh(db: Database, interval: float = 2.0) -> None:
    """Runs until cancelled; returns at once if autovacuum is on."""
    async with db.connection() as conn:
        if await autovacuum_on(conn):
            return
    log.warning("autovacuum is off on this server: Patron keeps table statistics itself")
    pacer = Pacer()
    while True:
        try:
            async with db.transaction() as conn:
                analysed = await analyze_stale(conn, pacer)
            if analysed:
                log.info("analysed %s", ", ".join(analysed))
        except Exception:  # a failed round must not stop the next one
            log.exception("could not refresh table statistics")
        await asyncio.sleep(interval)
