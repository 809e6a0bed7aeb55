"""SQL of the back office: tenants' programs, channels and their rate buckets, templates,
messages and members' tiers (broadcasts: broadcast_store; expiry notices and birthdays:
schedule_store)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import orjson
from psycopg.types.json import Jsonb

from patron.db.pool import Connection
from patron.errors import NotFound

# --- tenants ---------------------------------------------------------------------------------


async def tenants(conn: Connection, only: list[int] | None) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, slug, settings, version FROM tenants"
        " WHERE %(only)s::bigint[] IS NULL OR id = ANY(%(only)s) ORDER BY id",
        {"only": only},
    )
    return await cur.fetchall()


async def tenant_ids_by_slug(conn: Connection, slugs: list[str]) -> list[int]:
    cur = await conn.execute("SELECT id, slug FROM tenants WHERE slug = ANY(%s)", (slugs,))
    rows = await cur.fetchall()
    missing = set(slugs) - {row["slug"] for row in rows}
    if missing:
        raise NotFound(f"no tenant {sorted(missing)[0]!r}")
    return [cast(int, row["id"]) for row in rows]


# --- members as messages see them ------------------------------------------------------------

# The member's latest purchase: a cancelled receipt (a sale voided) is none, and moves neither
# the "last purchase" of a broadcast's filter nor the time zone and locale of their messages.

LATEST_RECEIPT = """
    LEFT JOIN LATERAL (
        SELECT r.at, s.timezone, s.country FROM receipts r
          JOIN stores s ON s.tenant_id = r.tenant_id AND s.code = r.store
         WHERE r.tenant_id = m.tenant_id AND r.member_id = m.id AND r.status <> 'cancelled'
         ORDER BY r.at DESC LIMIT 1) lr ON true
"""
# members ``m`` with the store of their latest receipt ``lr`` and their tier ``mt``: for all of a
# program's members (a count), joined; for some of them, looked up one by one (joined, PostgreSQL
# hashed every member's tier to find a few hundred)
LATEST_STORE = (
    LATEST_RECEIPT
    + """
    LEFT JOIN member_tiers mt ON mt.tenant_id = m.tenant_id AND mt.member_id = m.id
"""
)
LATEST_STORE_EACH = (
    LATEST_RECEIPT
    + """
    LEFT JOIN LATERAL (
        SELECT tier FROM member_tiers WHERE tenant_id = m.tenant_id AND member_id = m.id LIMIT 1) mt ON true
"""
)

MEMBER_COLUMNS = (
    "m.id::text AS id, m.name, m.phone, m.email, m.city, m.birthday, m.consents,"
    " lr.at AS last_purchase, lr.timezone, lr.country, mt.tier"
)


MEMBERS_FOR_MESSAGES = f"SELECT {MEMBER_COLUMNS} FROM members m {LATEST_STORE_EACH} WHERE m.tenant_id = %s AND m.id = ANY(%s::uuid[])"


async def members_for_messages(
    conn: Connection, tenant_id: int, member_ids: list[str]
) -> list[dict[str, Any]]:
    """Members with what messages need: contacts, consents, and the time zone and country of the
    store of their latest receipt (null: the program's), and their tier."""
    cur = await conn.execute(MEMBERS_FOR_MESSAGES, (tenant_id, member_ids))
    return await cur.fetchall()


async def receipt_cancelled(conn: Connection, tenant_id: int, receipt_id: str) -> bool:
    """Whether the receipt is cancelled (a sale voided) as it stands now."""
    row = await (
        await conn.execute(
            "SELECT status = 'cancelled' AS cancelled FROM receipts WHERE tenant_id = %s AND id = %s::uuid",
            (tenant_id, receipt_id),
        )
    ).fetchone()
    return bool(row and row["cancelled"])


# --- channels and rate buckets ---------------------------------------------------------------


async def put_channel(
    conn: Connection, tenant_id: int, channel: str, settings: dict[str, Any], rate: float | None
) -> None:
    await conn.execute(
        "INSERT INTO channels (tenant_id, channel, settings, rate_per_second) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, channel) DO UPDATE SET settings = excluded.settings,"
        " rate_per_second = excluded.rate_per_second, updated_at = now()",
        (tenant_id, channel, Jsonb(settings), rate),
    )
    await conn.execute(
        "INSERT INTO rate_buckets (tenant_id, channel) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (tenant_id, channel),
    )


async def get_channel(conn: Connection, tenant_id: int, channel: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT channel, settings, rate_per_second, updated_at FROM channels WHERE tenant_id = %s AND channel = %s",
        (tenant_id, channel),
    )
    return await cur.fetchone()


async def channels(conn: Connection, only: list[int] | None, due_at: datetime) -> list[dict[str, Any]]:
    """Configured channels (of the given tenants) that have messages due at ``due_at``, or a
    broadcast being sent (a lane of its audience not yet done)."""
    cur = await conn.execute(
        "SELECT c.tenant_id, c.channel, c.settings, c.rate_per_second FROM channels c"
        " WHERE (%(only)s::bigint[] IS NULL OR c.tenant_id = ANY(%(only)s)) AND (EXISTS (SELECT 1 FROM messages g"
        "   WHERE g.tenant_id = c.tenant_id AND g.channel = c.channel AND g.status = 'queued'"
        "     AND g.next_attempt_at <= %(due)s) OR EXISTS (SELECT 1 FROM broadcasts b"
        "   JOIN broadcast_lanes l ON l.tenant_id = b.tenant_id AND l.broadcast_id = b.id"
        "   WHERE b.tenant_id = c.tenant_id AND b.channel = c.channel AND b.status = 'expanding' AND NOT l.done))"
        " ORDER BY c.tenant_id, c.channel",
        {"only": only, "due": due_at},
    )
    return await cur.fetchall()


async def bucket_ahead(conn: Connection, tenant_id: int, channel: str) -> float:
    """Seconds until the channel's bucket is free (0 when it is free now)."""
    row = await (
        await conn.execute(
            "SELECT extract(epoch FROM (greatest(tat, now) - now))::float8 AS ahead"
            " FROM rate_buckets, clock_timestamp() AS now WHERE tenant_id = %s AND channel = %s",
            (tenant_id, channel),
        )
    ).fetchone()
    return 0.0 if row is None else float(row["ahead"])


async def hold_bucket(conn: Connection, tenant_id: int, channel: str, seconds: float) -> None:
    """Frees no slot of the channel's time line for ``seconds`` from now (a provider's "slow
    down"), for every worker, since they all reserve from this row."""
    await conn.execute(
        "UPDATE rate_buckets SET tat = greatest(tat, clock_timestamp() + make_interval(secs => %s))"
        " WHERE tenant_id = %s AND channel = %s",
        (seconds, tenant_id, channel),
    )


async def reserve_slots(
    conn: Connection, tenant_id: int, channel: str, span: float, max_ahead: float
) -> float | None:
    """Reserves ``span`` seconds of the channel's sending time line (one short statement, so that
    the row lock is held for microseconds); returns in how many seconds the reservation starts,
    or None when the time line is booked more than ``max_ahead`` seconds ahead (checked in the
    same statement: checked apart, senders of several workers booked 1.6 s ahead, and a
    provider's "slow down" found its hold already booked over).

    Every process of every worker reserves here, so the rate holds across all of them."""
    row = await (
        await conn.execute(
            """
            WITH clock AS (SELECT clock_timestamp() AS now)
            UPDATE rate_buckets b
               SET tat = greatest(b.tat, clock.now) + make_interval(secs => %(span)s)
              FROM clock
             WHERE b.tenant_id = %(t)s AND b.channel = %(c)s
               AND b.tat <= clock.now + make_interval(secs => %(ahead)s)
            RETURNING extract(epoch FROM (b.tat - clock.now))::float8 - %(span)s AS start_in
            """,
            {"t": tenant_id, "c": channel, "span": span, "ahead": max_ahead},
        )
    ).fetchone()
    if row is None:
        created = await conn.execute(
            "INSERT INTO rate_buckets (tenant_id, channel) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (tenant_id, channel),
        )
        if created.rowcount == 0:
            return None  # booked too far ahead
        return await reserve_slots(conn, tenant_id, channel, span, max_ahead)
    return max(0.0, float(row["start_in"]))


# --- templates -------------------------------------------------------------------------------


async def put_template(
    conn: Connection,
    tenant_id: int,
    trigger: str,
    channel: str,
    locale: str,
    subject: str | None,
    body: str,
) -> dict[str, Any]:
    row = await (
        await conn.execute(
            "INSERT INTO templates (tenant_id, trigger, channel, locale, subject, body)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant_id, trigger, channel, locale)"
            " DO UPDATE SET subject = excluded.subject, body = excluded.body, updated_at = now()"
            " RETURNING trigger, channel, locale, subject, body, updated_at",
            (tenant_id, trigger, channel, locale, subject, body),
        )
    ).fetchone()
    assert row is not None
    return row


async def templates(conn: Connection, tenant_id: int, trigger: str | None = None) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT trigger, channel, locale, subject, body, updated_at FROM templates"
        " WHERE tenant_id = %s AND (%s::text IS NULL OR trigger = %s) ORDER BY trigger, channel, locale",
        (tenant_id, trigger, trigger),
    )
    return await cur.fetchall()


async def delete_template(conn: Connection, tenant_id: int, trigger: str, channel: str, locale: str) -> bool:
    cur = await conn.execute(
        "DELETE FROM templates WHERE tenant_id = %s AND trigger = %s AND channel = %s AND locale = %s",
        (tenant_id, trigger, channel, locale),
    )
    return cur.rowcount > 0


async def tenants_with_template(conn: Connection, trigger: str, only: list[int] | None) -> list[int]:
    cur = await conn.execute(
        "SELECT DISTINCT tenant_id FROM templates WHERE trigger = %(trigger)s"
        " AND (%(only)s::bigint[] IS NULL OR tenant_id = ANY(%(only)s)) ORDER BY tenant_id",
        {"trigger": trigger, "only": only},
    )
    return [cast(int, row["tenant_id"]) for row in await cur.fetchall()]


# --- messages --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewMessage:
    member_id: str
    trigger: str
    channel: str
    locale: str | None
    subject: str | None
    body: str
    timezone: str
    dedup_key: str | None  # None: the id is what makes a repeat (a broadcast's)
    broadcast_id: str | None = None
    status: str = "queued"
    error: str | None = None
    # a message written once its outcome is known (a broadcast's) has its id, its attempt and its
    # outcome already; one queued to be sent later has none of them
    id: str | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    recipient: str | None = None


async def insert_messages(
    conn: Connection, tenant_id: int, messages: Sequence[NewMessage], now: datetime
) -> int:
    """Writes messages (one statement): queued ones are due at ``now`` unless they say otherwise.
    A repeat of a dedup key or of an id is ignored. Returns how many were written."""
    if not messages:
        return 0
    # the rows go as one JSON array (orjson, in C): sixteen arrays took psycopg's Python array
    # dumper 2.6 ms of a sender's CPU for a page of 90, the JSON 0.4 (BENCHMARKS.md)
    cur = await conn.execute(
        """
        INSERT INTO messages (tenant_id, id, member_id, trigger, channel, locale, subject, body, timezone,
                              status, error, attempts, next_attempt_at, sent_at, recipient, created_at,
                              broadcast_id, dedup_key)
        SELECT %s, coalesce(u.id, gen_random_uuid()), u.member_id, u.trigger, u.channel, u.locale, u.subject,
               u.body, u.timezone, u.status, u.error, u.attempts, coalesce(u.next_attempt_at, %s), u.sent_at,
               u.recipient, %s, u.broadcast_id, u.dedup_key
          FROM json_to_recordset(%s::json)
               AS u(id uuid, member_id uuid, trigger text, channel text, locale text, subject text, body text,
                    timezone text, status text, error text, attempts int, next_attempt_at timestamptz,
                    sent_at timestamptz, recipient text, broadcast_id uuid, dedup_key text)
        ON CONFLICT DO NOTHING
        """,
        (tenant_id, now, now, orjson.dumps(messages).decode()),
    )
    return cur.rowcount


# The claim is two statements: the due messages locked by the due index, then what a sender
# needs of them. The second, with its joins and look-ups, took PostgreSQL 1.8 ms to plan, and
# it was planned anew for nearly every batch (its parameters' custom plans); a sender sending a
# broadcast asks for due messages before each page and mostly finds none, which the first
# answers for a fraction of that (pg_stat_statements, bench/backoffice.py, 2026-12-07).
LOCK_DUE_MESSAGES = """
    SELECT g.id FROM messages g
     WHERE g.tenant_id = %(t)s AND g.channel = %(c)s AND g.status = 'queued' AND g.next_attempt_at <= %(now)s
     ORDER BY g.next_attempt_at
     LIMIT %(limit)s
     FOR UPDATE SKIP LOCKED
"""
# The looks at a notice's lots and a receipt message's sale are scalar subqueries, not EXISTS:
# PostgreSQL may answer an EXISTS with one hash of the whole outbox (or of every expiry notice)
# built for each batch, and chose that whenever many messages were queued (a broadcast).
CLAIM_MESSAGES = """
    SELECT g.id::text AS id, g.ctid::text AS ctid, g.member_id::text AS member_id, g.trigger, g.subject, g.body,
           coalesce(lr.timezone, t.settings ->> 'timezone', g.timezone) AS timezone, g.attempts,
           m.phone, m.email,
           coalesce((m.consents ->> g.channel)::boolean, false) AS consent,
           coalesce(b.status = 'cancelled', false) AS cancelled,
           g.trigger = 'points_expiring' AND NOT coalesce((
               SELECT true FROM expiry_notices n JOIN lots l ON l.tenant_id = n.tenant_id AND l.id = n.lot_id
                WHERE n.tenant_id = g.tenant_id AND n.member_id = g.member_id AND n.created_at = g.created_at
                  AND l.remaining > 0 AND l.expires_at > %(now)s LIMIT 1), false) AS points_gone,
           CASE WHEN g.trigger = 'receipt' AND g.dedup_key LIKE 'e:%%' THEN coalesce((
               SELECT true FROM outbox o JOIN receipts r ON r.tenant_id = o.tenant_id AND r.id = (o.data ->> 'id')::uuid
                WHERE o.uid = substr(g.dedup_key, 3, 36)::uuid AND o.tenant_id = g.tenant_id
                  AND r.status = 'cancelled' LIMIT 1), false) ELSE false END AS receipt_cancelled
      FROM messages g JOIN members m ON m.tenant_id = g.tenant_id AND m.id = g.member_id
      JOIN tenants t ON t.id = g.tenant_id
      LEFT JOIN broadcasts b ON b.tenant_id = g.tenant_id AND b.id = g.broadcast_id
      LEFT JOIN LATERAL (
            SELECT s.timezone FROM receipts r JOIN stores s ON s.tenant_id = r.tenant_id AND s.code = r.store
             WHERE r.tenant_id = g.tenant_id AND r.member_id = g.member_id AND r.status <> 'cancelled'
             ORDER BY r.at DESC LIMIT 1) lr ON true
     WHERE g.tenant_id = %(t)s AND g.id = ANY(%(ids)s::uuid[])
     ORDER BY g.next_attempt_at
"""


async def claim_messages(
    conn: Connection, tenant_id: int, channel: str, now: datetime, limit: int
) -> list[dict[str, Any]]:
    """Locks due messages of one channel for the caller's transaction, with the member's current
    contact, consent and time zone (contract 9: the zone of the store of their latest receipt as
    it is now, else the program's as it is now; a receipt made or a program's zone changed since
    the message was queued may have moved the quiet hours), and
    whether its broadcast was cancelled meanwhile, and, for a ``points_expiring`` notice, whether
    none of the lots it announced still holds points (``points_gone``: expired or spent while
    the notice waited, for quiet hours or retries), and, for a ``receipt`` message, whether its
    sale was cancelled since (``receipt_cancelled``: its receipt is that of the event named in
    its dedup key, ``e:<event uid>:<channel>``). A notice's lots are the expiry notices of its
    member written with it (the same moment: ``schedule.expiring_points`` writes both at ``now``),
    found by ``expiry_notices_member`` (migration 0025; all notices of a run share that moment).
    Other workers skip them while they are locked (``LOCK_DUE_MESSAGES``; ``CLAIM_MESSAGES`` then
    reads what is needed of them). ``ctid`` is where each row is: it cannot move while the caller
    holds the lock, and ``update_messages`` goes straight to it."""
    cur = await conn.execute(LOCK_DUE_MESSAGES, {"t": tenant_id, "c": channel, "now": now, "limit": limit})
    ids = [row["id"] for row in await cur.fetchall()]
    if not ids:
        return []
    cur = await conn.execute(CLAIM_MESSAGES, {"t": tenant_id, "ids": ids, "now": now})
    return await cur.fetchall()


@dataclass(frozen=True, slots=True)
class MessageUpdate:
    id: str
    ctid: str  # where the row is, as ``claim_messages`` found it
    status: str
    tried: int  # 1 if an attempt was made, 0 if the message was only put off
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    recipient: str | None = None
    error: str | None = None

    @classmethod
    def of(cls, row: dict[str, Any], status: str, tried: int, **fields: Any) -> MessageUpdate:
        """The outcome of a row that ``claim_messages`` returned."""
        return cls(row["id"], row["ctid"], status, tried, **fields)


async def update_messages(conn: Connection, updates: Sequence[MessageUpdate]) -> None:
    """Writes the outcomes of messages that ``claim_messages`` locked in the same transaction."""
    if not updates:
        return
    await conn.execute(
        UPDATE_MESSAGES,
        (
            [u.id for u in updates],
            [u.status for u in updates],
            [u.tried for u in updates],
            [u.next_attempt_at for u in updates],
            [u.sent_at for u in updates],
            [u.recipient for u in updates],
            [u.error for u in updates],
            [u.ctid for u in updates],
        ),
    )


# The rows are reached where the claim found them (a TID scan), so that the plan does not depend
# on the log's statistics. Joined by tenant and key, PostgreSQL hashed every message of the tenant
# whenever its statistics were taken before the tenant had many (a new broadcast's first
# minutes), or while the log was small enough for a full read to look cheaper than 90 index
# look-ups: a cost that grew with each message sent. The tenant is left out for the same reason
# (its index looked cheaper still); the rows are the ones this transaction locked, and a row is
# written only if its ``id`` is also the one claimed. A locked row cannot move (only an UPDATE
# makes a new version, and the claim returns the version it locked); were one ever missed, its
# message would simply be due again and go out once more with the same id, as after a crash.
UPDATE_MESSAGES = """
    UPDATE messages g
       SET status = u.status, attempts = g.attempts + u.tried,
           next_attempt_at = coalesce(u.next_at, g.next_attempt_at),
           sent_at = coalesce(u.sent_at, g.sent_at), recipient = coalesce(u.recipient, g.recipient),
           error = u.error
      FROM unnest(%s::uuid[], %s::text[], %s::int[], %s::timestamptz[], %s::timestamptz[], %s::text[],
                  %s::text[]) AS u(id, status, tried, next_at, sent_at, recipient, error)
     WHERE g.ctid = ANY(%s::tid[]) AND g.id = u.id
"""


_MESSAGE_COLUMNS = (
    "id::text AS id, member_id::text AS member_id, trigger, channel, locale, status, attempts, created_at,"
    " sent_at, next_attempt_at, recipient, subject, body, error, broadcast_id::text AS broadcast_id"
)


# A page of the message log names only the filters it is given: each combination is a statement
# of its own, which its index serves (migration 0030) whatever plan a prepared statement settles
# on. Written as one statement, each filter "given IS NULL OR ...", only a plan made for each
# call's values could leave the missing ones out; a generic plan would read the whole log.
MESSAGE_FILTERS = {
    "m": "member_id = %(m)s::uuid",
    "b": "broadcast_id = %(b)s::uuid",
    "s": "status = %(s)s",
    "tr": "trigger = %(tr)s",
    "at": "(created_at, id) < (%(at)s, %(id)s::uuid)",  # after the previous page's last message
}


def message_page(filters: Sequence[str]) -> str:
    """The statement of a page of the message log, newest first, with these of ``MESSAGE_FILTERS``."""
    where = "".join(f" AND {condition}" for name, condition in MESSAGE_FILTERS.items() if name in filters)
    # ordered by the table's columns, as the indexes are: a bare ``id`` here is the text the
    # statement answers, which no index holds
    return (
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE tenant_id = %(t)s{where}"
        " ORDER BY messages.created_at DESC, messages.id DESC LIMIT %(limit)s"
    )


async def list_messages(
    conn: Connection,
    tenant_id: int,
    *,
    member_id: str | None,
    broadcast_id: str | None,
    status: str | None,
    limit: int,
    before: tuple[datetime, str] | None,
    trigger: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first; ``before`` is the (created_at, id) of the last message of the previous page."""
    params = {
        "t": tenant_id,
        "m": member_id,
        "b": broadcast_id,
        "s": status,
        "tr": trigger,
        "at": before[0] if before else None,
        "id": before[1] if before else None,
        "limit": limit,
    }
    cur = await conn.execute(
        message_page([name for name in MESSAGE_FILTERS if params[name] is not None]), params
    )
    return await cur.fetchall()


# --- tiers -----------------------------------------------------------------------------------


async def member_tier(conn: Connection, tenant_id: int, member_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT tier, paid, evaluated_at, next_check_at FROM member_tiers WHERE tenant_id = %s AND member_id = %s",
        (tenant_id, member_id),
    )
    return await cur.fetchone()


async def save_member_tier(
    conn: Connection,
    tenant_id: int,
    member_id: str,
    tier: str | None,
    paid: Decimal,
    now: datetime,
    next_check_at: datetime | None,
) -> None:
    await conn.execute(
        "INSERT INTO member_tiers (tenant_id, member_id, tier, paid, evaluated_at, next_check_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant_id, member_id) DO UPDATE SET"
        " tier = excluded.tier, paid = excluded.paid, evaluated_at = excluded.evaluated_at,"
        " next_check_at = excluded.next_check_at",
        (tenant_id, member_id, tier, paid, now, next_check_at),
    )


async def paid_in_window(
    conn: Connection, tenant_id: int, member_id: str, since: datetime, until: datetime
) -> tuple[Decimal, datetime | None]:
    """Money the member paid in [since, until], net of returns (what decides the tier), and the
    earliest receipt that counts: the next to leave the window."""
    row = await (
        await conn.execute(
            "SELECT coalesce(sum(paid_net), 0) AS paid, min(at) FILTER (WHERE paid_net <> 0) AS oldest"
            " FROM receipts WHERE tenant_id = %s AND member_id = %s AND at >= %s AND at <= %s",
            (tenant_id, member_id, since, until),
        )
    ).fetchone()
    assert row is not None
    return Decimal(row["paid"]), row["oldest"]


async def make_tiers_due(conn: Connection, tenant_id: int, at: datetime) -> None:
    """Every member's tier of the tenant is due to be evaluated again at ``at`` (the program's
    tier rules changed)."""
    await conn.execute(
        "UPDATE member_tiers SET next_check_at = %(at)s"
        " WHERE tenant_id = %(t)s AND (next_check_at IS NULL OR next_check_at > %(at)s)",
        {"t": tenant_id, "at": at},
    )


async def track_tiers_due(
    conn: Connection,
    tenant_id: int,
    tier: str | None,
    since: datetime,
    at: datetime,
    after: str | None,
    limit: int,
) -> str | None:
    """Gives the members with a receipt since ``since`` whose tier the back office does not hold
    yet (imported members and receipts, which no worker evaluated) a row due at ``at``, held as
    ``tier`` (the tier of no purchases, which they have had so far): up to ``limit`` such
    members in id order after ``after``. Returns the last member id looked at, None when done."""
    row = await (
        await conn.execute(
            """
            WITH batch AS (
                SELECT DISTINCT member_id FROM receipts
                 WHERE tenant_id = %(t)s AND member_id IS NOT NULL AND at >= %(since)s
                   AND (%(after)s::uuid IS NULL OR member_id > %(after)s::uuid)
                 ORDER BY member_id LIMIT %(limit)s),
            tracked AS (
                INSERT INTO member_tiers (tenant_id, member_id, tier, paid, evaluated_at, next_check_at)
                SELECT %(t)s, b.member_id, %(tier)s, 0, %(at)s, %(at)s FROM batch b
                 WHERE NOT EXISTS (
                       SELECT 1 FROM member_tiers mt WHERE mt.tenant_id = %(t)s AND mt.member_id = b.member_id)
                ON CONFLICT DO NOTHING)
            SELECT count(*) AS n, (SELECT member_id::text FROM batch ORDER BY member_id DESC LIMIT 1) AS last FROM batch
            """,
            {"t": tenant_id, "tier": tier, "since": since, "at": at, "after": after, "limit": limit},
        )
    ).fetchone()
    assert row is not None
    return None if row["n"] < limit else cast(str, row["last"])


async def due_tier_checks(
    conn: Connection, now: datetime, limit: int, only: list[int] | None
) -> list[dict[str, Any]]:
    """Members a purchase of whom has left the tier window since their last evaluation (not
    locked here: the caller locks each member first, then checks again)."""
    cur = await conn.execute(
        "SELECT tenant_id, member_id::text AS member_id FROM member_tiers"
        " WHERE next_check_at <= %(now)s AND (%(only)s::bigint[] IS NULL OR tenant_id = ANY(%(only)s))"
        " ORDER BY next_check_at LIMIT %(limit)s",
        {"now": now, "only": only, "limit": limit},
    )
    return await cur.fetchall()
