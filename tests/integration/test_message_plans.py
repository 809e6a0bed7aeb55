"""The workers' statements over the message log (and the outbox) reach their rows by index,
whatever the log's size and whatever its statistics say: a plan that reads the whole log costs
more with every message sent, and it ran beside the tills every half second (issue 5's benchmark
found both below)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from patron.backoffice import broadcast_store, broadcasts, outbox, store
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


def nodes_of(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of a plan, the root first."""
    return [plan] + [node for child in plan.get("Plans", []) for node in nodes_of(child)]


async def plan_of(conn: Connection, statement: str, params: Any, *, analyze: bool = False) -> dict[str, Any]:
    """A statement's plan; with ``analyze``, run, with the rows each node read."""
    cur = await conn.execute(f"EXPLAIN ({'ANALYZE, ' if analyze else ''}FORMAT JSON) " + statement, params)
    row = await cur.fetchone()
    assert row is not None
    document = row["QUERY PLAN"]
    plan: dict[str, Any] = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    return plan


async def explain(
    conn: Connection, statement: str, params: Any, relation: str = "messages"
) -> list[tuple[str, str | None]]:
    return scans_of(await plan_of(conn, statement, params), relation)


async def due_ids(conn: Connection, tenant_id: int, now: datetime, limit: int) -> list[Any]:
    """The due messages' ids, locked, as the claim's first statement finds them."""
    params = {"t": tenant_id, "c": "sms", "now": now, "limit": limit}
    return [row["id"] for row in await (await conn.execute(store.LOCK_DUE_MESSAGES, params)).fetchall()]


async def a_broadcast_under_way(conn: Connection, tenant_id: int, now: datetime) -> str:
    """A broadcast being sent, with ``SENT`` messages sent and ``DUE`` due, of 1,000 members."""
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
        due = await explain(
            conn, store.LOCK_DUE_MESSAGES, {"t": tenant.tenant_id, "c": "sms", "now": now, "limit": 90}
        )
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
        queued = await explain(conn, broadcast_store.HAS_QUEUED, {"t": tenant.tenant_id, "b": broadcast_id})
        await conn.execute("ANALYZE messages")  # and with statistics that know it
        queued_analysed = await explain(
            conn, broadcast_store.HAS_QUEUED, {"t": tenant.tenant_id, "b": broadcast_id}
        )
        has_queued = await broadcast_store.has_queued_messages(conn, tenant.tenant_id, broadcast_id)
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
    # the due messages found in the due index's order, not among every message of the tenant
    assert due == [("Index Scan", "messages_due")], due
    # the batch's 90 messages where they are, not every message of the tenant
    assert updating == [("Tid Scan", None)], updating
    # the look at a broadcast's queued messages through an index of queued messages (the due
    # index, or the broadcast's own with its status), never the whole log
    for plan in (queued, queued_analysed):
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
        first_lane = broadcasts.lane_bounds(0)
        params = {
            "t": tenant.tenant_id,
            "after_id": first_lane[0],
            "last_id": first_lane[1],
            "look": 250,
            "limit": 90,
            **broadcast_store._audience_parameters(audience),
        }
        reading = await explain(conn, broadcast_store.AUDIENCE_PAGE, params, relation="members")
        # and the pages of each lane, one after another, choose each consenting member once
        selected: list[str] = []
        for lane in range(broadcasts.LANES):
            after, last = broadcasts.lane_bounds(lane)
            while True:
                page = await broadcast_store.audience_page(
                    conn, tenant.tenant_id, audience, after, last, 250, 90
                )
                assert all(after < row["id"] <= last for row in page.chosen) and len(page.chosen) <= 90
                selected += [row["id"] for row in page.chosen]
                if len(page.chosen) == 90:
                    after = page.chosen[-1]["id"]
                elif page.looked == 250:
                    assert page.last_looked is not None
                    after = page.last_looked
                else:
                    break
        cur = await conn.execute(
            "SELECT count(*) FILTER (WHERE (consents ->> 'sms')::boolean) AS consenting, count(*) AS members"
            " FROM members WHERE tenant_id = %s",
            (tenant.tenant_id,),
        )
        counts = await cur.fetchone()
    assert counts is not None
    # by the key's range of the lane (an index scan, or a bitmap of the range for a lane of a few
    # hundred members, as the statistics of the moment judge), never the program's every member
    assert reading and all(index == "members_pkey" for _, index in reading), reading
    assert len(selected) == len(set(selected)) == counts["consenting"] >= 4000


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
        params = {"t": tenant.tenant_id, "ids": await due_ids(conn, tenant.tenant_id, now, 90), "now": now}
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


async def test_the_event_claim_looks_up_earlier_events_by_key(db: Database, tenant: Tenant) -> None:
    """An event waits behind an earlier unhandled one of its member, looked up for each candidate
    in the member's index of pending events. As a NOT EXISTS, with statistics taken while the
    worker kept up (a few dozen pending), PostgreSQL planned an anti join that compared each
    candidate with a materialized copy of every pending event: a backlog (a worker stopped, a
    burst of receipts) of 20,000 events cost 184 ms a claim of 20, and drained in quadratic time."""
    now = datetime.now(UTC)
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        # the queue as the worker keeps it: 35 events of 10 members, and statistics taken then
        await conn.execute(
            "WITH m AS (SELECT i, gen_random_uuid() AS id FROM generate_series(0, 9) AS i)"
            " INSERT INTO outbox (tenant_id, type, member_id, occurred_at, data)"
            " SELECT %s, 'points.adjusted', m.id, %s, '{}' FROM generate_series(1, 35) AS s(n)"
            "   JOIN m ON m.i = s.n %% 10 ORDER BY s.n",
            (tenant.tenant_id, now),
        )
        await conn.execute("ANALYZE outbox")
        # then a backlog: 20,000 events of 2,000 other members, every seventh of no member
        await conn.execute(
            "WITH m AS (SELECT i, gen_random_uuid() AS id FROM generate_series(0, 1999) AS i)"
            " INSERT INTO outbox (tenant_id, type, member_id, occurred_at, data)"
            " SELECT %s, 'points.adjusted', CASE WHEN s.n %% 7 = 0 THEN NULL ELSE m.id END, %s, '{}'"
            "   FROM generate_series(1, 20000) AS s(n) JOIN m ON m.i = s.n %% 2000 ORDER BY s.n",
            (tenant.tenant_id, now),
        )
        plans = [
            await plan_of(conn, outbox.CLAIM, {"now": now, "limit": 20, "tenants": tenants})
            for tenants in (None, [tenant.tenant_id])
        ]
        claimed = [event.id for event in await outbox.claim(conn, now, 100)]
        cur = await conn.execute(
            "SELECT tenant_id, id, member_id FROM outbox WHERE processed_at IS NULL ORDER BY id"
        )
        pending = await cur.fetchall()
    for plan, candidates, tenants in zip(
        plans,
        ({"outbox_pending"}, {"outbox_pending", "outbox_member_pending"}),
        (None, [tenant.tenant_id]),
        strict=True,
    ):
        joins = [n for n in nodes_of(plan) if n["Node Type"] == "Materialize" or n.get("Join Type") == "Anti"]
        assert not joins, joins
        # for each candidate the member's earlier events by key (a bitmap of that one member's
        # pending events is a probe too); the candidates, for every program, in order of the pending
        # index (a worker limited to one program may read that program's pending events and sort
        # them, depending on the statistics: a cost that grows with its backlog, not its square)
        reading = scans_of(plan, "outbox")
        assert len(reading) == 2 and reading[0][1] in candidates, reading
        assert reading[0][0] == "Index Scan" or (
            tenants is not None and reading[0][0] == "Bitmap Heap Scan"
        ), reading
        assert reading[1][1] == "outbox_member_pending", reading
    # and the claim takes, oldest first, the events with no earlier pending one of their member
    seen: set[tuple[int, str]] = set()
    first: list[int] = []
    for event in pending:
        member = (event["tenant_id"], event["member_id"])
        if event["member_id"] is None or member not in seen:
            first.append(event["id"])
        seen.add(member)
    assert claimed == first[:100]


async def test_the_claim_looks_up_a_notices_lots_by_member(db: Database, tenant: Tenant) -> None:
    """Whether a ``points_expiring`` notice's points are gone is looked up through the member's
    expiry notices (``expiry_notices_member``, migration 0025). Without an index on the member,
    each claimed notice read the whole table: every notice of one schedule run has the same
    ``created_at``, so that index returns them all too (44,149 notices: 313 ms a claim of 50)."""
    now = datetime.now(UTC)
    run = now - timedelta(hours=1)  # the schedule run that wrote the notices and their messages
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        # 1,000 other members with 20 announced lots each, and two with their own: one whose
        # points still wait, one whose lots expired while the notice waited
        await conn.execute(
            "INSERT INTO members (tenant_id, phone, name, consents)"
            " SELECT %s, '+7905' || lpad(i::text, 7, '0'), 'Member ' || i, '{\"sms\": true}'"
            " FROM generate_series(1, 1002) AS i",
            (tenant.tenant_id,),
        )
        await conn.execute(
            "INSERT INTO entries (tenant_id, member_id, kind, points, at)"
            " SELECT tenant_id, id, 'adjust', 100, %s FROM members WHERE tenant_id = %s",
            (run - timedelta(days=300), tenant.tenant_id),
        )
        await conn.execute(
            "INSERT INTO lots (tenant_id, member_id, entry_id, kind, points, available_from, expires_at)"
            " SELECT e.tenant_id, e.member_id, e.id, 'adjust', 5, e.at,"
            "        CASE WHEN m.phone = '+79050001002' THEN %(now)s - interval '10 minutes'"
            "             ELSE %(now)s + interval '3 days' END"
            "   FROM entries e JOIN members m ON m.tenant_id = e.tenant_id AND m.id = e.member_id,"
            "        generate_series(1, CASE WHEN m.phone > '+79050001000' THEN 2 ELSE 20 END)"
            "  WHERE e.tenant_id = %(t)s",
            {"t": tenant.tenant_id, "now": now},
        )
        await conn.execute(
            "INSERT INTO expiry_notices (tenant_id, lot_id, member_id, created_at)"
            " SELECT tenant_id, id, member_id, %s FROM lots WHERE tenant_id = %s",
            (run, tenant.tenant_id),
        )
        await conn.execute(
            "INSERT INTO messages (tenant_id, member_id, trigger, channel, body, timezone, status,"
            "                      next_attempt_at, created_at)"
            " SELECT tenant_id, id, 'points_expiring', 'sms', phone, 'UTC', 'queued', %(run)s, %(run)s"
            "   FROM members WHERE tenant_id = %(t)s AND phone > '+79050001000'",
            {"t": tenant.tenant_id, "run": run},
        )
        for table in ("members", "lots", "expiry_notices", "messages"):
            await conn.execute(f"ANALYZE {table}")
        params = {"t": tenant.tenant_id, "ids": await due_ids(conn, tenant.tenant_id, now, 50), "now": now}
        notices = await explain(conn, store.CLAIM_MESSAGES, params, relation="expiry_notices")
        cur = await conn.execute(
            "SELECT count(*) AS n FROM expiry_notices WHERE tenant_id = %s", (tenant.tenant_id,)
        )
        counted = await cur.fetchone()
        claimed = await store.claim_messages(conn, tenant.tenant_id, "sms", now, 50)
    assert counted is not None and counted["n"] == 20_004
    # each claimed notice's own notices, by member, never a read of the table
    assert len(notices) == 1 and notices[0][1] == "expiry_notices_member", notices
    gone = {row["body"]: row["points_gone"] for row in claimed}
    assert gone == {"+79050001001": False, "+79050001002": True}
