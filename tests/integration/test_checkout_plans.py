"""The statements on the tills' path read a member's rows by the member's key, whatever the
program's size and whatever its statistics say. A probe's program (200,000 members, imported
history older than a year) had every quote read all 10,500 receipts of the tier window through
``receipts_tenant_at``, 1 ms becoming 11 ms; the member's index now carries the amount and answers
the sum alone (migration 0024), and an anonymous quote reads no receipts at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from patron.checkout import store
from patron.db.pool import Connection, Database
from tests.integration.conftest import Tenant
from tests.integration.test_message_plans import scans_of

MEMBERS = 2_000
HISTORY = 20_000  # of the program, two years old, when its statistics were taken
RECEIPTS = 4_000  # of the program, in the tier window, all after its statistics were taken


class Recording:
    """A connection that remembers the statements it runs (and runs them)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.statements: list[tuple[str, Any]] = []

    async def execute(self, statement: str, params: Any = None) -> Any:
        self.statements.append((statement, params))
        return await self.conn.execute(statement, params)


async def receipt_scans(conn: Connection, statement: str, params: Any) -> list[tuple[str, str | None]]:
    cur = await conn.execute("EXPLAIN (FORMAT JSON) " + statement, params)
    row = await cur.fetchone()
    assert row is not None
    return scans_of(row["QUERY PLAN"][0]["Plan"], "receipts")


async def a_program_with_recent_receipts(conn: Connection, tenant_id: int, now: datetime) -> None:
    """``MEMBERS`` members with a history two years old, statistics taken then, and ``RECEIPTS`` new
    receipts since: the statistics know of no receipt in the tier window."""
    await conn.execute("INSERT INTO stores (tenant_id, code, name) VALUES (%s, 'P1', 'Plans')", (tenant_id,))
    await conn.execute(
        "INSERT INTO members (tenant_id, phone, name) SELECT %s, '+7905' || lpad(i::text, 7, '0'),"
        " 'Member ' || i FROM generate_series(1, %s) AS i",
        (tenant_id, MEMBERS),
    )
    receipts = (
        "INSERT INTO receipts (tenant_id, store, number, member_id, at, body_hash, amount, discount,"
        "                      points_spent, paid, paid_net, points_earned)"
        " SELECT %(t)s, 'P1', %(prefix)s || i, m.id, %(at)s - (i % 20) * interval '1 day', '\\x00',"
        "        10, 0, 0, 10, 10, 0"
        "   FROM generate_series(1, %(n)s) AS i"
        "   JOIN (SELECT id, row_number() OVER () AS k FROM members WHERE tenant_id = %(t)s) m"
        "     ON m.k = 1 + i %% %(members)s"
    ).replace("i % 20", "i %% 20")
    common = {"t": tenant_id, "members": MEMBERS}
    await conn.execute(receipts, common | {"n": HISTORY, "prefix": "old-", "at": now - timedelta(days=700)})
    await conn.execute("ANALYZE receipts")
    await conn.execute(receipts, common | {"n": RECEIPTS, "prefix": "new-", "at": now})


async def test_a_quote_sums_the_members_tier_window_from_the_members_index(
    db: Database, tenant: Tenant
) -> None:
    now = datetime.now(UTC)
    since = now - timedelta(days=365)
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        await a_program_with_recent_receipts(conn, tenant.tenant_id, now)
        member = ("phone", "+79050000077")

        async def quote(who: tuple[str, str] | None) -> tuple[Any, tuple[str, Any]]:
            """The quote's context for ``who``, and the statement that read it."""
            recording = Recording(conn)
            context = await store.quote_context(
                recording,  # type: ignore[arg-type]
                tenant.tenant_id,
                "P1",
                [],
                who,
                since,
                now + timedelta(seconds=1),
                now,
                [],
            )
            return context, recording.statements[0]

        (_, _, person, (paid, _), _), (statement, params) = await quote(member)
        _, (anonymous_statement, anonymous_params) = await quote(None)
        member_scans = await receipt_scans(conn, statement, params)
        cur = await conn.execute(
            "SELECT sum(r.paid_net) AS paid FROM receipts r JOIN members m ON m.tenant_id = r.tenant_id"
            " AND m.id = r.member_id WHERE r.tenant_id = %s AND m.phone = %s AND r.at >= %s",
            (tenant.tenant_id, member[1], since),
        )
        expected = await cur.fetchone()
        anonymous_scans = await receipt_scans(conn, anonymous_statement, anonymous_params)
    assert person is not None and expected is not None and paid == expected["paid"] > 0
    assert member_scans and all(index == "receipts_member_at" for _, index in member_scans), member_scans
    assert anonymous_scans == []  # no member, no tier window to read
