"""Messages are written from one JSON array: every field comes back as it went in, whatever the
text holds, and a repeat of an id or a dedup key is still not written twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from patron.backoffice import store
from patron.backoffice.store import NewMessage
from patron.db.pool import Database
from tests.integration.conftest import Tenant

AWKWARD = 'Привет, "Anna" \\ back\\slash, tab\there,\nnew line, emoji 🎉, ünïcödé, ${x} {{ y }} %s'


async def test_every_field_comes_back_as_written(db: Database, tenant: Tenant) -> None:
    response = await tenant.call("POST", "/v1/members", {"phone": "+79001230077"})
    member = str(response.json()["id"])
    now = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    sent = NewMessage(
        member, "broadcast", "sms", "ru", None, AWKWARD, "Europe/Moscow", None,
        broadcast_id=None, status="sent", id=str(uuid.uuid4()), attempts=1,
        sent_at=now + timedelta(seconds=1, microseconds=250), recipient="+79001230077",
    )  # fmt: skip
    queued = NewMessage(
        member, "welcome", "email", None, "Hello «Anna»", "Hi", "Asia/Tokyo", "welcome:e:1",
        error="HTTP 500", next_attempt_at=now + timedelta(minutes=5),
    )  # fmt: skip
    async with db.connection() as conn, conn.transaction(force_rollback=True):
        assert await store.insert_messages(conn, tenant.tenant_id, [sent, queued], now) == 2
        # the same id, and the same dedup key, again: neither is written twice
        assert await store.insert_messages(conn, tenant.tenant_id, [sent, queued], now) == 0
        cur = await conn.execute(
            "SELECT id::text, member_id::text, trigger, channel, locale, subject, body, timezone, status,"
            " error, attempts, next_attempt_at, sent_at, recipient, created_at, dedup_key"
            " FROM messages WHERE tenant_id = %s AND member_id = %s ORDER BY trigger",
            (tenant.tenant_id, member),
        )
        rows = await cur.fetchall()
    assert [row["trigger"] for row in rows] == ["broadcast", "welcome"]
    first, second = rows
    assert first["id"] == sent.id and first["body"] == AWKWARD and first["locale"] == "ru"
    assert (first["status"], first["attempts"], first["recipient"]) == ("sent", 1, "+79001230077")
    assert first["sent_at"] == sent.sent_at and first["next_attempt_at"] == now  # due at `now` unless told
    assert first["subject"] is None and first["dedup_key"] is None and first["created_at"] == now
    uuid.UUID(second["id"])  # made by the database when the message has none
    assert (second["subject"], second["body"], second["timezone"]) == ("Hello «Anna»", "Hi", "Asia/Tokyo")
    assert (second["status"], second["error"], second["attempts"]) == ("queued", "HTTP 500", 0)
    assert second["next_attempt_at"] == queued.next_attempt_at and second["sent_at"] is None
    assert second["dedup_key"] == "welcome:e:1" and second["member_id"] == member


async def test_writing_messages_leaves_the_members_rows_untouched(db: Database, tenant: Tenant) -> None:
    """The log does not lock each message's member (a foreign key's check did, migration 0029):
    a broadcast to every member rewrote the whole members table."""
    response = await tenant.call("POST", "/v1/members", {"phone": "+79001230078"})
    member = str(response.json()["id"])
    now = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    message = NewMessage(member, "broadcast", "sms", "en", None, "Hi", "UTC", None, id=str(uuid.uuid4()))
    async with db.connection() as conn:
        async with conn.transaction():
            assert await store.insert_messages(conn, tenant.tenant_id, [message], now) == 1
        # a row lock, even one only for key share, leaves its transaction's id in the row's xmax
        cur = await conn.execute(
            "SELECT xmax::text AS xmax FROM members WHERE tenant_id = %s AND id = %s",
            (tenant.tenant_id, member),
        )
        row = await cur.fetchone()
        await conn.execute(
            "DELETE FROM messages WHERE tenant_id = %s AND id = %s", (tenant.tenant_id, message.id)
        )
    assert row is not None and row["xmax"] == "0"
