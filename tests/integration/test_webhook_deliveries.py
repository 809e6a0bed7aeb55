"""Webhook deliveries that wait behind an earlier pending one of their member are not due: a claim
reads about as many rows as it claims however many wait behind a receiver that is down (while it
was down, every member's later deliveries were due, the oldest in the due index, and each claim of
20 read them all to reject each one: 30,000 waiting, half a second and 150,000 buffers a claim; and
a generic plan sorted every due delivery). The one ahead, when it ends, makes the next due, even
when the next is written while it is being recorded."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import sql

from patron.backoffice import rules, webhook_store
from patron.db.pool import Connection, Database
from tests.integration.conftest import Tenant

LIMIT = 20
DOWN = 100  # members whose first delivery failed, the receiver being down
WAITING = 30  # later events of each of them, behind the first
FRESH = 40  # members with one delivery, due and first in line
TYPES = {
    "now": "timestamptz",
    "only": "bigint[]",
    "full": "uuid[]",
    "full_tenants": "bigint[]",
    "limit": "bigint",
}


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """A plan's node and every node under it."""
    return [plan] + [node for child in plan.get("Plans", []) for node in nodes(child)]


async def explain(
    conn: Connection, statement: str, params: dict[str, Any], *, generic: bool
) -> dict[str, Any]:
    """A statement's plan, run (EXPLAIN ANALYZE), as a custom plan or as the generic one a
    worker's prepared statement may settle on."""
    if not generic:
        cur = await conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
    else:
        names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
        numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", statement)
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute("PREPARE generic_plan AS " + numbered)
        try:
            # the values as literals: a utility statement's parameters get no type from it
            arguments = sql.SQL(", ").join(
                sql.SQL("{}::{}").format(sql.Literal(params[name]), sql.SQL(TYPES[name])) for name in names
            )
            cur = await conn.execute(
                sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE generic_plan({})").format(arguments)
            )
        finally:
            await conn.execute("DEALLOCATE generic_plan")
            await conn.execute("RESET plan_cache_mode")
    row = await cur.fetchone()
    assert row is not None
    document = row["QUERY PLAN"]
    return dict((json.loads(document) if isinstance(document, str) else document)[0]["Plan"])


def due_scan(plan: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """The node types of the claim's ``due`` part, and its scan of the deliveries."""
    (cte,) = [node for node in nodes(plan) if node.get("Subplan Name") == "CTE due"]
    part = nodes(cte)
    (scan,) = [
        node
        for node in part
        if node.get("Relation Name") == "webhook_deliveries" and node.get("Alias") == "d"
    ]
    return [node["Node Type"] for node in part], scan


async def a_webhook(conn: Connection, tenant_id: int) -> str:
    row = await webhook_store.insert(conn, tenant_id, "http://127.0.0.1:9/hook", ["points.adjusted"], "k")
    return str(row["id"])


async def a_receiver_down_for_an_hour(conn: Connection, tenant_id: int, now: datetime) -> str:
    """A webhook whose receiver is down: ``DOWN`` members' first deliveries failed (tried again in
    10 minutes) and ``WAITING`` later deliveries of each wait behind them; then ``FRESH`` members
    have one delivery each, due. Statistics are taken while only the first deliveries existed."""
    hook = await a_webhook(conn, tenant_id)
    cur = await conn.execute(
        "INSERT INTO members (tenant_id, phone, name)"
        " SELECT %s, '+7905' || lpad(i::text, 7, '0'), 'Member ' || i FROM generate_series(1, %s) AS i"
        " RETURNING id::text AS id",
        (tenant_id, DOWN + FRESH),
    )
    members = [row["id"] for row in await cur.fetchall()]
    down, fresh = members[:DOWN], members[DOWN:]

    async def events(of: list[str], each: int, at: datetime) -> None:
        cur = await conn.execute(
            "INSERT INTO outbox (tenant_id, type, member_id, occurred_at, data, processed_at)"
            " SELECT %(t)s, 'points.adjusted', m, %(at)s, '{}', %(at)s"
            "   FROM generate_series(1, %(each)s) AS i, unnest(%(members)s::uuid[]) AS m"
            " ORDER BY i, m RETURNING id, member_id::text AS member_id",
            {"t": tenant_id, "at": at, "each": each, "members": of},
        )
        for event in await cur.fetchall():  # as the worker handles them, one after another
            await webhook_store.insert_deliveries(
                conn, tenant_id, event["id"], event["member_id"], [hook], at
            )

    start = now - timedelta(hours=1)
    await events(down, 1, start)
    await conn.execute("ANALYZE webhook_deliveries")  # while the receiver kept up
    for delivery in await webhook_store.claim_due(conn, start, DOWN, [tenant_id]):
        await webhook_store.record(
            conn,
            tenant_id,
            delivery["id"],
            status="pending",
            last_status=None,
            last_error="no answer within 10 s",
            next_attempt_at=now + timedelta(minutes=10),
            delivered_at=None,
            now=start,
        )
    await events(down, WAITING, start + timedelta(minutes=1))
    await events(fresh, 1, now - timedelta(minutes=1))
    return hook


async def test_a_claim_reads_no_delivery_that_waits_behind_a_failed_one(db: Database, tenant: Tenant) -> None:
    now = datetime.now(UTC)
    params = {"now": now, "limit": LIMIT, "only": [tenant.tenant_id], "full": [], "full_tenants": []}
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        await a_receiver_down_for_an_hour(conn, tenant.tenant_id, now)
        plans = {
            "custom": await explain(conn, webhook_store.CLAIM_DUE, params, generic=False),
            "generic": await explain(conn, webhook_store.CLAIM_DUE, params, generic=True),
        }
        claimed = await webhook_store.claim_due(conn, now, LIMIT, [tenant.tenant_id])
        # other programs' due deliveries, which the index holds too (other tests')
        cur = await conn.execute(
            "SELECT count(*) AS n FROM webhook_deliveries"
            " WHERE tenant_id <> %s AND status = 'pending' AND next_attempt_at <= %s",
            (tenant.tenant_id, now),
        )
        others = await cur.fetchone()
        cur = await conn.execute(
            "SELECT count(*) FILTER (WHERE next_attempt_at IS NULL) AS waiting, count(*) AS pending"
            " FROM webhook_deliveries WHERE tenant_id = %s AND status = 'pending'",
            (tenant.tenant_id,),
        )
        counts = await cur.fetchone()
    # the fresh members' deliveries, the first in line, whatever waits before them
    assert len(claimed) == LIMIT and all(row["created_at"] > now - timedelta(minutes=2) for row in claimed)
    for name, plan in plans.items():
        types, scan = due_scan(plan)
        # the due deliveries in the index's own order: none sorted, none read beyond the claim
        assert "Sort" not in types and "Incremental Sort" not in types, (name, types)
        assert (scan["Node Type"], scan.get("Index Name")) == ("Index Scan", "deliveries_due"), (name, scan)
        read = scan["Actual Rows"] + scan.get("Rows Removed by Filter", 0)
        assert others is not None and read <= LIMIT + 5 + others["n"], (name, read, others)
    # those that wait are not due: none is in the due index
    assert counts is not None and counts["waiting"] == DOWN * WAITING
    assert counts["pending"] == DOWN * (1 + WAITING) + FRESH


async def test_the_look_before_a_claim_tells_whether_any_delivery_is_due_from_the_due_index(
    db: Database, tenant: Tenant
) -> None:
    """A worker looks twice a second; the lean look runs first, and the claim only when it finds
    a delivery due: so it must never miss one the claim would take, for the worker's programs."""
    now = datetime.now(UTC)
    mine, nobodys = [tenant.tenant_id], [tenant.tenant_id + 10**9]
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        await a_receiver_down_for_an_hour(conn, tenant.tenant_id, now)
        params = {"now": now, "only": mine}
        plans = [
            await explain(conn, webhook_store.ANY_DUE, params, generic=generic) for generic in (False, True)
        ]
        looks = {
            "fresh ones due": await webhook_store.any_due(conn, now, mine),
            "before the fresh ones": await webhook_store.any_due(conn, now - timedelta(minutes=5), mine),
            "another program's": await webhook_store.any_due(conn, now, nobodys),
        }
        claimed = await webhook_store.claim_due(conn, now, LIMIT, mine)
        early = await webhook_store.claim_due(conn, now - timedelta(minutes=5), LIMIT, mine)
    for plan in plans:  # the due index in its order, custom or generic, whatever the statistics
        scans = [node for node in nodes(plan) if node.get("Relation Name") == "webhook_deliveries"]
        assert [(node["Node Type"], node.get("Index Name")) for node in scans] == [
            ("Index Scan", "deliveries_due")
        ]
        assert all(node["Node Type"] != "Sort" for node in nodes(plan))
    assert looks == {"fresh ones due": True, "before the fresh ones": False, "another program's": False}
    assert len(claimed) == LIMIT and early == []  # the claim agrees with the look


async def one_waiting_member(conn: Connection, tenant_id: int, now: datetime) -> tuple[str, str, int]:
    """A webhook, a member and the member's first delivery, claimed: the webhook, the member, the
    delivery."""
    hook = await a_webhook(conn, tenant_id)
    cur = await conn.execute(
        "INSERT INTO members (tenant_id, phone, name) VALUES (%s, '+79060000001', 'Member') RETURNING id::text AS id",
        (tenant_id,),
    )
    member = await cur.fetchone()
    assert member is not None
    event = await an_event(conn, tenant_id, member["id"], now)
    await webhook_store.insert_deliveries(conn, tenant_id, event, member["id"], [hook], now)
    (ahead,) = await webhook_store.claim_due(conn, now, 10, [tenant_id])
    return hook, member["id"], ahead["id"]


async def an_event(conn: Connection, tenant_id: int, member: str, now: datetime) -> int:
    cur = await conn.execute(
        "INSERT INTO outbox (tenant_id, type, member_id, occurred_at, data, processed_at)"
        " VALUES (%s, 'points.adjusted', %s, %s, '{}', %s) RETURNING id",
        (tenant_id, member, now, now),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


async def delivered(conn: Connection, tenant_id: int, delivery: int, now: datetime) -> None:
    await webhook_store.record(
        conn,
        tenant_id,
        delivery,
        status="delivered",
        last_status=204,
        last_error=None,
        next_attempt_at=None,
        delivered_at=now,
        now=now,
    )


async def next_attempt(db: Database, tenant_id: int, event: int) -> datetime | None:
    async with db.read() as conn:
        cur = await conn.execute(
            "SELECT next_attempt_at FROM webhook_deliveries WHERE tenant_id = %s AND event_id = %s",
            (tenant_id, event),
        )
        row = await cur.fetchone()
    assert row is not None
    return row["next_attempt_at"]


async def test_a_delivery_written_while_the_one_ahead_is_recorded_does_not_wait_for_ever(
    db: Database, tenant: Tenant
) -> None:
    """The worker writes a member's next delivery, which waits, while the one ahead of it is
    recorded as delivered: the record, not seeing the new one, would make nothing due, and the new
    one would wait for ever. The one ahead stays locked until the new one is written."""
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        hook, member, ahead = await one_waiting_member(conn, tenant.tenant_id, now)

    async def record(delivery: int) -> None:
        async with db.transaction() as conn:
            await delivered(conn, tenant.tenant_id, delivery, now)

    # the new delivery written first: the record waits for it, and then makes it due
    async with db.transaction() as writing:
        later = await an_event(writing, tenant.tenant_id, member, now)
        await webhook_store.insert_deliveries(writing, tenant.tenant_id, later, member, [hook], now)
        recording = asyncio.create_task(record(ahead))
        await asyncio.sleep(0.3)
        assert not recording.done()  # the one ahead is locked
    await recording
    assert await next_attempt(db, tenant.tenant_id, later) == now

    # the record first: the writer waits for it, and then finds nothing ahead
    async with db.transaction() as conn:
        (claimed,) = await webhook_store.claim_due(conn, now, 10, [tenant.tenant_id])
    async with db.transaction() as recording_conn:
        await delivered(recording_conn, tenant.tenant_id, claimed["id"], now)

        async def write() -> int:
            async with db.transaction() as conn:
                last = await an_event(conn, tenant.tenant_id, member, now)
                await webhook_store.insert_deliveries(conn, tenant.tenant_id, last, member, [hook], now)
                return last

        writing_task = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not writing_task.done()
    last = await writing_task
    assert claimed["event_id"] == later and await next_attempt(db, tenant.tenant_id, last) == now


async def test_a_delivery_left_waiting_behind_nothing_is_made_due_by_the_schedule(
    db: Database, tenant: Tenant
) -> None:
    """A worker of the version before waiting deliveries ends the one ahead without making the next
    due (during an upgrade): the scheduled look makes it due, and leaves one that still waits."""
    now = datetime.now(UTC)
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        hook, member, ahead = await one_waiting_member(conn, tenant.tenant_id, now)
        second = await an_event(conn, tenant.tenant_id, member, now)
        await webhook_store.insert_deliveries(conn, tenant.tenant_id, second, member, [hook], now)
        third = await an_event(conn, tenant.tenant_id, member, now)
        await webhook_store.insert_deliveries(conn, tenant.tenant_id, third, member, [hook], now)
        # the one ahead ended the old way: nothing made the next one due
        await conn.execute(
            "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = %s WHERE tenant_id = %s AND id = %s",
            (now, tenant.tenant_id, ahead),
        )
        released = await webhook_store.release_stranded(conn, now, [tenant.tenant_id])
        cur = await conn.execute(
            "SELECT event_id, next_attempt_at FROM webhook_deliveries WHERE tenant_id = %s AND status = 'pending'",
            (tenant.tenant_id,),
        )
        pending = {row["event_id"]: row["next_attempt_at"] for row in await cur.fetchall()}
        again = await webhook_store.release_stranded(conn, now, [tenant.tenant_id])
    assert released == 1 and again == 0
    assert pending == {second: now, third: None}  # the third still waits behind the second


async def test_a_deleted_webhooks_pending_deliveries_hold_no_claim_up(db: Database, tenant: Tenant) -> None:
    """Deliveries of a deleted webhook that stayed pending (written by a worker's transaction that
    committed after the deletion) were the first due in the index: each claim's LIMIT took them,
    then dropped them, and came back empty for every program. They are left out of the claim, and
    the scheduled look fails them."""
    now = datetime.now(UTC)
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        dead = await a_webhook(conn, tenant.tenant_id)
        live = await a_webhook(conn, tenant.tenant_id)
        for _ in range(LIMIT + 5):  # written for the webhook just before its deletion committed
            event = await an_event(conn, tenant.tenant_id, None, now - timedelta(minutes=5))  # type: ignore[arg-type]
            await webhook_store.insert_deliveries(
                conn, tenant.tenant_id, event, None, [dead], now - timedelta(minutes=5)
            )
        await conn.execute(
            "UPDATE webhooks SET deleted_at = %s WHERE tenant_id = %s AND id = %s",
            (now, tenant.tenant_id, dead),
        )
        event = await an_event(conn, tenant.tenant_id, None, now)  # type: ignore[arg-type]
        await webhook_store.insert_deliveries(conn, tenant.tenant_id, event, None, [live], now)
        claimed = await webhook_store.claim_due(conn, now, LIMIT, [tenant.tenant_id])
        failed = await webhook_store.fail_deleted(conn, [tenant.tenant_id])
        cur = await conn.execute(
            "SELECT count(*) AS n FROM webhook_deliveries WHERE tenant_id = %s AND webhook_id = %s"
            " AND status = 'failed' AND last_error = %s",
            (tenant.tenant_id, dead, webhook_store.DELETED),
        )
        row = await cur.fetchone()
    assert [delivery["webhook_id"] for delivery in claimed] == [live]
    assert failed == LIMIT + 5 and row is not None and row["n"] == LIMIT + 5


async def test_deleting_a_webhook_waits_for_no_worker(db: Database, tenant: Tenant) -> None:
    """A worker writing an event's deliveries locks the pending ones they wait behind; the deletion
    failing the webhook's pending deliveries waited for those locks, and deadlocked with a worker
    writing behind two of them. It skips what a worker holds; the scheduled look fails it after."""
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        hook, _, ahead = await one_waiting_member(conn, tenant.tenant_id, now)
    async with db.transaction() as worker:
        await worker.execute(
            "SELECT 1 FROM webhook_deliveries WHERE tenant_id = %s AND id = %s FOR SHARE",
            (tenant.tenant_id, ahead),
        )
        async with db.transaction() as api:
            deleted = await asyncio.wait_for(
                webhook_store.delete(api, tenant.tenant_id, hook, now), timeout=3
            )
    async with db.transaction() as conn:
        cur = await conn.execute(
            "SELECT status FROM webhook_deliveries WHERE tenant_id = %s AND id = %s",
            (tenant.tenant_id, ahead),
        )
        before = await cur.fetchone()
        failed = await webhook_store.fail_deleted(conn, [tenant.tenant_id])
    assert deleted and before is not None and before["status"] == "pending" and failed == 1


async def test_a_delivery_that_waited_a_day_is_still_retried_for_a_day(db: Database, tenant: Tenant) -> None:
    """Behind a delivery that gave up after 24 hours, the next one becomes due: its own 24 hours of
    retries count from then (contract 10), not from its event, which would leave it one attempt."""
    now = datetime.now(UTC)
    began = now - timedelta(hours=25)
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        hook, member, ahead = await one_waiting_member(conn, tenant.tenant_id, began)
        later = await an_event(conn, tenant.tenant_id, member, began + timedelta(minutes=1))
        await webhook_store.insert_deliveries(
            conn, tenant.tenant_id, later, member, [hook], began + timedelta(minutes=1)
        )
        await webhook_store.record(
            conn,
            tenant.tenant_id,
            ahead,
            status="failed",
            last_status=None,
            last_error="no answer within 10 s",
            next_attempt_at=None,
            delivered_at=None,
            now=now,
        )
        (claimed,) = await webhook_store.claim_due(conn, now, 10, [tenant.tenant_id])
    assert claimed["event_id"] == later and claimed["due_since"] == now
    # its first failure is followed by a retry; counted from its event, it would have given up
    assert rules.webhook_next_attempt(1, claimed["due_since"], now + timedelta(seconds=5)) is not None
    assert rules.webhook_next_attempt(1, claimed["created_at"], now + timedelta(seconds=5)) is None
