"""The workers' statements over the message log reach their rows by index, whatever the log's size
and whatever its statistics say: a plan that reads the whole log costs more with every message
sent, and it ran beside the tills every half second (issue 5's benchmark found both below)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from patron.backoffice import broadcast_store, store
from patron.db.pool import Connection, Database
from tests.integration.conftest import Tenant

SENT = 12_000  # a broadcast well under way: most of its messages sent, the next ones due
DUE = 3_000
QUEUED_INDEXES = {"messages_due", "messages_broadcast"}  # what the planner may use for queued messages
TEXT = (
    "Our winter sale starts on Friday: 20% off all produce and double points on dairy."
    " Show this text at the till. Reply STOP to opt out."
)


def scans_of(plan: dict[str, Any], relation: str) -> list[tuple[str, str | None]]:
    """How an EXPLAIN (FORMAT JSON) plan reads ``relation``: each scan's node type and the index it
    uses (a bitmap heap scan's is its bitmap index scan's)."""
    found: list[tuple[str, str | None]] = []
    if plan.get("Relation Name") == relation and plan["Node Type"] != "ModifyTable":
        index = plan.get("Index Name") or next(
            (child.get("Index Name") for child in plan.get("Plans", []) if child.get("Index Name")), None
        )
        found.append((plan["Node Type"], index))
    for child in plan.get("Plans", []):
        found += scans_of(child, relation)
    return found


async def explain(
    conn: Connection, statement: str, params: Any, relation: str = "messages"
) -> list[tuple[str, str | None]]:
    cur = await conn.execute("EXPLAIN (FORMAT JSON) " + statement, params)
    row = await cur.fetchone()
    assert row is not None
    document = row["QUERY PLAN"]
    plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    return scans_of(plan, relation)


async def a_broadcast_under_way(conn: Connection, tenant_id: int, now: datetime) -> str:
    """A broadcast still expanding, with ``SENT`` messages sent and ``DUE`` due, of 1,000 members."""
    await conn.execute(
        "INSERT INTO members (tenant_id, phone, name, consents)"
        " SELECT %s, '+7903' || lpad(i::text, 7, '0'), 'Member ' || i, '{\"sms\": true}'"
        " FROM generate_series(1, 1000) AS i",
        (tenant_id,),
    )
    cur = await conn.execute(
        "INSERT INTO broadcasts (tenant_id, channel, locale, body, filter, created_at)"
        " VALUES (%s, 'sms', 'en', %s, '{}', %s) RETURNING id::text AS id",
        (tenant_id, TEXT, now),
    )
    row = await cur.fetchone()
    assert row is not None
    await conn.execute(
        "INSERT INTO messages (tenant_id, member_id, trigger, channel, body, timezone, status,"
        "                      next_attempt_at, created_at, broadcast_id)"
        " SELECT %(t)s, m.id, 'broadcast', 'sms', %(text)s, 'UTC',"
        "        CASE WHEN i <= %(sent)s THEN 'sent' ELSE 'queued' END, %(now)s, %(now)s, %(b)s"
        "   FROM generate_series(1, %(n)s) AS i"
        "   JOIN (SELECT id, row_number() OVER () %% 1000 AS n FROM members WHERE tenant_id = %(t)s) m"
        "     ON m.n = i %% 1000",
        {
            "t": tenant_id,
            "text": TEXT,
            "sent": SENT,
            "n": SENT + DUE,
            "now": now - timedelta(minutes=1),
            "b": row["id"],
        },
    )
    return str(row["id"])


async def test_the_worker_statements_find_messages_by_index(db: Database, tenant: Tenant) -> None:
    now = datetime.now(UTC)
    # all in one transaction that is rolled back: the shared log and its statistics stay as they were
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        await conn.execute("ANALYZE messages")  # statistics from before the broadcast: it is not in them
        broadcast_id = await a_broadcast_under_way(conn, tenant.tenant_id, now)
        claimed = await store.claim_messages(conn, tenant.tenant_id, "sms", now, 90)
        ids, ctids = [row["id"] for row in claimed], [row["ctid"] for row in claimed]
        assert len(ids) == 90

        updating = await explain(
            conn,
            store.UPDATE_MESSAGES,
            (
                ids,
                ["sent"] * 90,
                [1] * 90,
                [None] * 90,
                [now] * 90,
                ["+1"] * 90,
                [None] * 90,
                ctids,
            ),
        )
        expanding = await explain(
            conn,
            broadcast_store.EXPANDING_BROADCAST,
            {"only": [tenant.tenant_id], "now": now, "lead": 3.0, "least": 2000},
        )
        queued = await explain(conn, broadcast_store.HAS_QUEUED, {"t": tenant.tenant_id, "b": broadcast_id})
        await conn.execute("ANALYZE messages")  # and with statistics that know it
        queued_analysed = await explain(
            conn, broadcast_store.HAS_QUEUED, {"t": tenant.tenant_id, "b": broadcast_id}
        )
        has_queued = await broadcast_store.has_queued_messages(conn, tenant.tenant_id, broadcast_id)
        expanding_analysed = await explain(
            conn,
            broadcast_store.EXPANDING_BROADCAST,
            {"only": [tenant.tenant_id], "now": now, "lead": 3.0, "least": 2000},
        )
        # and the claimed rows are the ones written
        await store.update_messages(
            conn,
            [store.MessageUpdate.of(row, "sent", 1, sent_at=now, recipient="+1") for row in claimed],
        )
        cur = await conn.execute(
            "SELECT count(*) AS n FROM messages WHERE tenant_id = %s AND broadcast_id = %s AND recipient = '+1'"
            " AND status = 'sent' AND attempts = 1 AND id = ANY(%s::uuid[])",
            (tenant.tenant_id, broadcast_id, ids),
        )
        written = await cur.fetchone()
    assert written is not None and written["n"] == 90
    # the batch's 90 messages where they are, not every message of the tenant
    assert updating == [("Tid Scan", None)], updating
    # the looks at a broadcast's due or queued messages through an index of queued messages (the
    # due index, or the broadcast's own with its status), never the whole log
    for plan in (expanding, expanding_analysed, queued, queued_analysed):
        assert len(plan) == 1 and plan[0][1] in QUEUED_INDEXES, plan
    assert has_queued


async def test_a_broadcast_page_looks_up_only_its_own_members(db: Database, tenant: Tenant) -> None:
    """Each page of a broadcast reads its members by key: a page that read every member of the
    program made a broadcast's cost grow with the square of its audience."""
    audience = broadcast_store.Audience(channel="sms", default_tier=None)
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        await conn.execute(
            "INSERT INTO members (tenant_id, phone, name, consents)"
            " SELECT %s, '+7904' || lpad(i::text, 7, '0'), 'Member ' || i,"
            "        jsonb_build_object('sms', i %% 3 <> 0)"
            " FROM generate_series(1, 6000) AS i",
            (tenant.tenant_id,),
        )
        await conn.execute("ANALYZE members")
        params = {
            "t": tenant.tenant_id,
            "cursor": None,
            "limit": 250,
            **broadcast_store._audience_parameters(audience),
        }
        reading = await explain(conn, broadcast_store.AUDIENCE_PAGE, params, relation="members")
        # and the pages, one after another, select each consenting member once
        selected: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            found, cursor = await broadcast_store.audience_page(conn, tenant.tenant_id, audience, cursor, 250)
            if cursor is None:
                break
            pages += 1
            selected += [row["id"] for row in found]
        cur = await conn.execute(
            "SELECT count(*) FILTER (WHERE (consents ->> 'sms')::boolean) AS consenting, count(*) AS members"
            " FROM members WHERE tenant_id = %s",
            (tenant.tenant_id,),
        )
        counts = await cur.fetchone()
    assert counts is not None
    assert reading and all(node in ("Index Scan", "Index Only Scan") for node, _ in reading), reading
    assert len(selected) == len(set(selected)) == counts["consenting"] >= 4000
    assert pages == -(-counts["members"] // 250)


async def test_the_claim_looks_up_a_receipt_messages_sale_by_key(db: Database, tenant: Tenant) -> None:
    """Whether a receipt message's sale was cancelled is looked up for each claimed message by its
    event's key. As an EXISTS test, PostgreSQL answered it with one hash of every event in the
    outbox built for each batch, chosen whenever many messages were queued (a broadcast): a read of
    the whole outbox for each batch with a receipt message."""
    now = datetime.now(UTC)
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        await a_broadcast_under_way(conn, tenant.tenant_id, now)
        await conn.execute(
            "INSERT INTO outbox (tenant_id, type, occurred_at, data)"
            " SELECT %s, 'receipt.confirmed', %s, jsonb_build_object('id', gen_random_uuid())"
            " FROM generate_series(1, 20000)",
            (tenant.tenant_id, now),
        )
        cur = await conn.execute(
            "SELECT uid::text AS uid FROM outbox WHERE tenant_id = %s LIMIT 1", (tenant.tenant_id,)
        )
        event = await cur.fetchone()
        assert event is not None
        # a receipt message and an expiring-points notice, due before the broadcast's messages
        await conn.execute(
            "INSERT INTO messages (tenant_id, member_id, trigger, channel, body, timezone, status,"
            "                      next_attempt_at, created_at, dedup_key)"
            " SELECT %(t)s, id, trigger, 'sms', 'text', 'UTC', 'queued', %(due)s, %(now)s, key"
            "   FROM (SELECT id FROM members WHERE tenant_id = %(t)s LIMIT 1) m,"
            "        (VALUES ('receipt', 'e:' || %(uid)s || ':sms'), ('points_expiring', NULL)) AS v(trigger, key)",
            {"t": tenant.tenant_id, "due": now - timedelta(hours=1), "now": now, "uid": event["uid"]},
        )
        await conn.execute("ANALYZE outbox")
        await conn.execute("ANALYZE messages")
        params = {"t": tenant.tenant_id, "c": "sms", "now": now, "limit": 90}
        outbox = await explain(conn, store.CLAIM_MESSAGES, params, relation="outbox")
        claimed = await store.claim_messages(conn, tenant.tenant_id, "sms", now, 90)
    # one look-up of the event by its key, never a read of the outbox
    assert outbox == [("Index Scan", "outbox_uid_key")], outbox
    triggers = {row["trigger"]: row for row in claimed}
    assert not triggers["receipt"]["receipt_cancelled"] and triggers["points_expiring"]["points_gone"]


async def test_members_for_messages_look_up_each_members_tier(db: Database, tenant: Tenant) -> None:
    """The members a scheduled look writes to (birthdays: a few hundred) are read with their tier
    one by one: joined, PostgreSQL hashed the tiers of every member of the program."""
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        await conn.execute(
            "INSERT INTO members (tenant_id, phone, name, consents)"
            " SELECT %s, '+7906' || lpad(i::text, 7, '0'), 'Member ' || i, '{}' FROM generate_series(1, 20000) AS i",
            (tenant.tenant_id,),
        )
        await conn.execute(
            "INSERT INTO member_tiers (tenant_id, member_id, tier, evaluated_at)"
            " SELECT tenant_id, id, 'silver', now() FROM members WHERE tenant_id = %s",
            (tenant.tenant_id,),
        )
        await conn.execute("ANALYZE members")
        await conn.execute("ANALYZE member_tiers")
        cur = await conn.execute(
            "SELECT id::text AS id FROM members WHERE tenant_id = %s LIMIT 300", (tenant.tenant_id,)
        )
        ids = [row["id"] for row in await cur.fetchall()]
        tiers = await explain(
            conn, store.MEMBERS_FOR_MESSAGES, (tenant.tenant_id, ids), relation="member_tiers"
        )
        found = await store.members_for_messages(conn, tenant.tenant_id, ids)
    assert tiers and all(node in ("Index Scan", "Index Only Scan") for node, _ in tiers), tiers
    assert sorted(row["id"] for row in found) == sorted(ids) and {row["tier"] for row in found} == {"silver"}
