"""The admin's message log (`GET /v1/messages`, the back office's Communications -> Messages) is
read a page at a time, newest first, and a page reads about as many messages as it shows however
long the log grows: each broadcast adds a message for each member it reaches (migration 0030)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from patron.backoffice import store
from patron.db.pool import Connection, Database
from tests.integration.conftest import Tenant
from tests.integration.test_message_plans import DUE, SENT, a_broadcast_under_way, nodes_of, plan_of


async def a_newer_broadcast(conn: Connection, tenant_id: int, now: datetime) -> None:
    """A second broadcast, sent after the first, to the same members: ``SENT + DUE`` messages."""
    await conn.execute(
        "INSERT INTO messages (tenant_id, member_id, trigger, channel, body, timezone, status,"
        "                      next_attempt_at, created_at, sent_at, broadcast_id)"
        " SELECT g.tenant_id, g.member_id, 'broadcast', 'sms', g.body, 'UTC', 'sent', %(now)s, %(now)s,"
        "        %(now)s, gen_random_uuid()"
        "   FROM messages g WHERE g.tenant_id = %(t)s",
        {"t": tenant_id, "now": now},
    )


async def test_a_page_of_the_message_log_reads_about_a_page(db: Database, tenant: Tenant) -> None:
    """A page of the whole log, of its sent messages, after a cursor, or of the older of two
    broadcasts reads about as many messages as it shows, and a member's page that member's. Pages
    that read and sorted the program's whole log, or walked a newer broadcast's messages to find an
    older one's, grew with every message sent."""
    now = datetime.now(UTC)
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        older = await a_broadcast_under_way(conn, tenant.tenant_id, now)
        await a_newer_broadcast(conn, tenant.tenant_id, now)
        await conn.execute("ANALYZE messages")

        async def page(before: Any = None, **filters: Any) -> list[dict[str, Any]]:
            return await store.list_messages(
                conn,
                tenant.tenant_id,
                member_id=filters.get("m"),
                broadcast_id=filters.get("b"),
                status=filters.get("s"),
                limit=100,
                before=before,
            )

        first = await page()
        last = first[-1]
        member = first[0]["member_id"]
        pages = {
            "whole log": {},
            "after a cursor": {"at": last["created_at"], "id": last["id"]},
            "sent ones": {"s": "sent"},
            "a member's": {"m": member},
            "the older broadcast's": {"b": older},
        }
        plans: dict[str, dict[str, Any]] = {}
        for name, filters in pages.items():
            params = {"t": tenant.tenant_id, "limit": 100, **filters}
            plans[name] = await plan_of(conn, store.message_page(list(filters)), params, analyze=True)
        second = await page(before=(last["created_at"], last["id"]))
        mine = await page(m=member)
        olders = await page(b=older)
        cur = await conn.execute(
            "SELECT id::text AS id, member_id::text AS member_id, broadcast_id::text AS broadcast_id"
            " FROM messages WHERE tenant_id = %s ORDER BY messages.created_at DESC, messages.id DESC",
            (tenant.tenant_id,),
        )
        log = await cur.fetchall()
    # the pages are the log's, in its order, the second following the first
    assert [row["id"] for row in first + second] == [row["id"] for row in log[:200]]
    assert [row["id"] for row in mine] == [row["id"] for row in log if row["member_id"] == member][:100]
    assert [row["id"] for row in olders] == [row["id"] for row in log if row["broadcast_id"] == older][:100]
    assert len(mine) == 2 * (SENT + DUE) // 1000 and len(olders) == 100
    indexes = {"a member's": "messages_member", "the older broadcast's": "messages_broadcast_recent"}
    for name, plan in plans.items():
        scans = [node for node in nodes_of(plan) if node.get("Relation Name") == "messages"]
        assert len(scans) == 1, (name, plan)
        index = scans[0].get("Index Name")
        assert index == indexes.get(name, "messages_recent"), (name, scans[0])
        read = scans[0]["Actual Rows"] + scans[0].get("Rows Removed by Filter", 0)
        assert read <= 200, (name, read)
