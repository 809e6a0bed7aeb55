"""Back office with a controllable clock: the outbox, messages (consent, quiet hours, retries,
templates), email through a real SMTP server, birthday gifts, expiring-points notices, tiers,
broadcasts, and webhooks checked by a real HTTP receiver (signatures, order per member).

The worker runs in this process (its steps called directly, the clock moved by the test); the
SMS provider, the SMTP server and the webhook receiver are real local servers."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from patron.backoffice import broadcasts, schedule_store, store, webhook_store
from patron.backoffice.model import EmailChannelIn
from patron.backoffice.sender import SendSettings
from patron.backoffice.store import MessageUpdate
from patron.backoffice.tenancy import Tenants
from patron.backoffice.transports import EmailTransport
from patron.backoffice.worker import Worker, WorkerSettings
from patron.db.pool import Database
from tests.conftest import ManualClock
from tests.integration.conftest import Tenant
from tests.integration.local_servers import Inbox, Receiver, SmsProvider
from tests.integration.test_api_conventions import assert_error
from tests.integration.test_checkout import basket, receipt, setup_shop
from tests.integration.test_import import RECEIPT_HEADER, load, write_csv

MOSCOW = ZoneInfo("Europe/Moscow")
_phones = itertools.count(1000)


def moscow(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=MOSCOW)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def worker_db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, min_size=1, max_size=8, name="worker")
    await database.open()
    yield database
    await database.close()


def worker_settings(**send: Any) -> WorkerSettings:
    """The tests' worker. keep_days=0: tests that move the clock by months still read the whole
    outbox; expiry_every=0: each run of the schedule looks for expiring points."""
    return WorkerSettings(
        send=SendSettings(retry_base=1.0, max_attempts=5, **send), keep_days=0, expiry_every=0
    )


@pytest.fixture
async def worker(worker_db: Database, tenant: Tenant, clock: ManualClock) -> AsyncIterator[Worker]:
    settings = worker_settings()
    async with Worker(worker_db, clock=clock, settings=settings, tenants=[tenant.tenant_id]) as running:
        yield running


@pytest.fixture
async def patient_worker(worker_db: Database, tenant: Tenant, clock: ManualClock) -> AsyncIterator[Worker]:
    """A worker that gives no send slot up. On a loaded machine the loop may stall past a slot's
    20 ms, and its message is then written queued, due at once (as meant), before it is sent: the
    tests that count what each batch wrote would see it."""
    settings = worker_settings(late_tolerance=30.0)
    async with Worker(worker_db, clock=clock, settings=settings, tenants=[tenant.tenant_id]) as running:
        yield running


@pytest.fixture
async def provider() -> AsyncIterator[SmsProvider]:
    server = SmsProvider()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    from tests.integration.test_cli import free_port

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def shop(tenant: Tenant, clock: ManualClock, at: str = "2026-03-10T12:00:00", **program: Any) -> None:
    clock.fixed = moscow(at)
    await setup_shop(tenant, activation_delay_days=0, **program)


async def sms_channel(tenant: Tenant, provider: SmsProvider, rate: float = 1000) -> None:
    response = await tenant.call("PUT", "/v1/channels/sms", {"url": provider.url, "rate_per_second": rate})
    assert response.status_code == 200, response.text


async def template(tenant: Tenant, trigger: str, body: str, channel: str = "sms", **extra: Any) -> None:
    response = await tenant.call(
        "PUT", f"/v1/templates/{trigger}", {"channel": channel, "body": body, **extra}
    )
    assert response.status_code == 200, response.text


async def new_member(tenant: Tenant, *, sms: bool = True, email: str | None = None, **fields: Any) -> str:
    body: dict[str, Any] = {
        "phone": f"+7900555{next(_phones):04d}",
        "consents": {"sms": sms, "email": email is not None},
        **fields,
    }
    if email:
        body["email"] = email
    response = await tenant.call("POST", "/v1/members", body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def messages(tenant: Tenant, member: str) -> list[dict[str, Any]]:
    response = await tenant.call("GET", "/v1/messages", params={"member": member})
    assert response.status_code == 200, response.text
    return list(response.json())


async def release_holds(worker: Worker, db: Database, tenant: Tenant) -> None:
    """Ends the holds a provider's 429 put on the tenant's channels (they count real seconds,
    which a test moving its own clock does not wait for)."""
    await asyncio.gather(*worker.sender._holding)
    worker.sender._held.clear()
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE rate_buckets SET tat = clock_timestamp() WHERE tenant_id = %s", (tenant.tenant_id,)
        )


async def outbox_events(db: Database, tenant: Tenant) -> list[dict[str, Any]]:
    async with db.read() as conn:
        cur = await conn.execute(
            "SELECT id, uid::text AS uid, type, member_id::text AS member_id, data, processed_at FROM outbox"
            " WHERE tenant_id = %s ORDER BY id",
            (tenant.tenant_id,),
        )
        return await cur.fetchall()


async def deliveries_of(db: Database, tenant: Tenant) -> list[dict[str, Any]]:
    async with db.read() as conn:
        cur = await conn.execute(
            "SELECT o.uid::text AS event, d.status FROM webhook_deliveries d"
            " JOIN outbox o ON o.tenant_id = d.tenant_id AND o.id = d.event_id WHERE d.tenant_id = %s",
            (tenant.tenant_id,),
        )
        return await cur.fetchall()


@contextlib.asynccontextmanager
async def subscribed(tenant: Tenant, events: list[str]) -> AsyncIterator[tuple[Receiver, str]]:
    """A real webhook receiver, and the tenant's webhook for ``events`` pointing at it."""
    receiver = Receiver(secret="k")
    await receiver.start()
    try:
        body = {"url": receiver.url, "events": events, "secret": "k"}
        created = await tenant.call("POST", "/v1/webhooks", body)
        assert created.status_code == 201, created.text
        yield receiver, created.json()["id"]
    finally:
        await receiver.stop()


# --- the outbox ------------------------------------------------------------------------------


async def test_changes_write_events_in_their_own_transaction(
    tenant: Tenant, db: Database, clock: ManualClock, worker: Worker
) -> None:
    await shop(tenant, clock)
    member = await new_member(tenant)
    adjust = {"key": "k1", "points": 50, "reason": "seed"}
    assert (await tenant.call("POST", f"/v1/members/{member}/adjustments", adjust)).status_code == 201
    assert (
        await tenant.call("POST", f"/v1/members/{member}/adjustments", adjust)
    ).status_code == 200  # a repeat
    sale = await receipt(tenant, basket(("TEE", 1, "100.00"), member=member))
    too_much = basket(("TEE", 1, "100.00"), member=member, spend=10_000)
    await receipt(tenant, too_much, status=409)  # refused: changes nothing, writes no event
    anonymous = await receipt(tenant, basket(("TEE", 1, "10.00")))
    back = await tenant.call(
        "POST",
        f"/v1/receipts/{sale['id']}/returns",
        {"number": "RET-1", "lines": [{"line": 1, "quantity": 1}]},
    )
    assert back.status_code == 201
    assert (await tenant.call("POST", f"/v1/receipts/{anonymous['id']}/cancel")).status_code == 200

    events = await outbox_events(db, tenant)
    assert [e["type"] for e in events] == [
        "member.created",
        "points.adjusted",
        "receipt.confirmed",
        "receipt.confirmed",
        "receipt.returned",
        "receipt.cancelled",
    ]
    assert events[0]["data"]["id"] == member and events[0]["data"]["phone"].startswith("+7900555")
    assert events[1]["data"]["points"] == 50
    assert events[2]["data"]["id"] == sale["id"] and events[2]["member_id"] == member
    assert events[3]["member_id"] is None and events[3]["data"]["id"] == anonymous["id"]
    assert events[4]["data"]["receipt"]["status"] == "returned"
    assert all(e["processed_at"] is None for e in events)

    # one event of the member per batch (the next waits for it), and the two anonymous ones
    assert await worker.handle_events() == 3
    handled = await worker.drain()
    assert handled >= 1
    assert all(e["processed_at"] is not None for e in await outbox_events(db, tenant))


# --- messages --------------------------------------------------------------------------------


async def test_receipt_messages_respect_consent_and_quiet_hours(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    await shop(tenant, clock, at="2026-03-10T15:00:00")
    await sms_channel(tenant, provider)
    await template(
        tenant, "receipt", "{{ member.name }}: +{{ points_earned }}, баланс {{ balance }}", locale="ru_RU"
    )
    anna = await new_member(tenant, name="Anna")
    ivan = await new_member(tenant, name="Ivan")  # receipts in Vladivostok: 22:00 there now
    olga = await new_member(tenant, name="Olga", sms=False)
    await receipt(tenant, basket(("TEE", 1, "100.00"), member=anna))
    await receipt(tenant, basket(("TEE", 1, "100.00"), member=ivan, store="VVO"))
    await receipt(tenant, basket(("TEE", 1, "100.00"), member=olga))
    await worker.drain()

    assert [(r["to"], r["text"]) for r in provider.requests] == [
        (provider.requests[0]["to"], "Anna: +5, баланс 5"),
    ]
    (sent,) = await messages(tenant, anna)
    assert (sent["trigger"], sent["channel"], sent["status"], sent["attempts"]) == (
        "receipt",
        "sms",
        "sent",
        1,
    )
    assert sent["sent_at"] is not None and sent["locale"] == "ru_RU"
    (waiting,) = await messages(tenant, ivan)
    assert (waiting["status"], waiting["attempts"], waiting["sent_at"]) == ("queued", 0, None)
    nine_in_vladivostok = datetime(2026, 3, 11, 9, 0, tzinfo=ZoneInfo("Asia/Vladivostok"))
    assert datetime.fromisoformat(waiting["next_attempt_at"]) == nine_in_vladivostok
    assert await messages(tenant, olga) == []  # no consent, no message

    clock.fixed = nine_in_vladivostok - timedelta(seconds=1)
    await worker.drain()
    assert len(provider.requests) == 1
    clock.fixed = nine_in_vladivostok
    await worker.drain()
    assert len(provider.requests) == 2 and provider.requests[1]["text"] == "Ivan: +5, баланс 5"
    assert (await messages(tenant, ivan))[0]["status"] == "sent"


async def test_no_receipt_message_for_a_sale_cancelled_before_the_worker_came_to_it(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """Its points and the balance after it were taken back: "+30 points, balance 30" told of
    nothing the member has. A receipt cancelled after its message was queued is past helping."""
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    await template(tenant, "receipt", "{{ receipt.number }} +{{ points_earned }} = {{ balance }}")
    member = await new_member(tenant)
    voided = await receipt(tenant, basket(("TEE", 1, "600.00"), member=member, number="V-1"))
    assert (await tenant.call("POST", f"/v1/receipts/{voided['id']}/cancel")).status_code == 200
    await receipt(tenant, basket(("TEE", 1, "100.00"), member=member, number="K-2"))
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["K-2 +5 = 5"]
    assert [m["trigger"] for m in await messages(tenant, member)] == ["receipt"]


async def test_a_receipt_message_still_waiting_when_its_sale_is_cancelled_is_dropped(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """A probe: queued, then retried during a provider's outage (or held for the morning), the
    message of a sale voided meanwhile still told of points and a balance taken back."""
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    await template(tenant, "receipt", "{{ receipt.number }} +{{ points_earned }} = {{ balance }}")
    member = await new_member(tenant)
    provider.script.append((500, {}))
    voided = await receipt(tenant, basket(("TEE", 1, "600.00"), member=member, number="V-1"))
    await worker.drain()
    assert (await messages(tenant, member))[0]["status"] == "queued"  # to be tried again
    assert (await tenant.call("POST", f"/v1/receipts/{voided['id']}/cancel")).status_code == 200
    clock.fixed += timedelta(minutes=5)
    await receipt(tenant, basket(("TEE", 1, "100.00"), member=member, number="K-2"))
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["V-1 +30 = 30", "K-2 +5 = 5"]
    kept, dropped = await messages(tenant, member)
    assert (kept["status"], dropped["status"], dropped["error"]) == (
        "sent",
        "failed",
        "its sale was cancelled before it could be sent",
    )


async def test_quiet_hours_are_those_of_the_members_latest_store_at_the_moment_of_sending(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """Contract 9: never between 21:00 and 09:00 in the time zone of the store of the member's
    latest receipt. A welcome queued at 15:00 in Moscow went out after the member had bought in
    Vladivostok, where it was 22:00: the zone was taken when the message was queued."""
    await shop(tenant, clock, at="2026-03-10T15:00:00")
    await sms_channel(tenant, provider)
    await template(tenant, "welcome", "Welcome, {{ member.name }}!")
    boris = await new_member(tenant, name="Boris")
    await worker.handle_events()  # the welcome is queued: Moscow's time, 15:00, not quiet
    (queued,) = await messages(tenant, boris)
    assert queued["status"] == "queued"
    await receipt(tenant, basket(("TEE", 1, "100.00"), member=boris, store="VVO"))  # 22:00 there
    await worker.drain()
    assert provider.requests == []
    (waiting,) = await messages(tenant, boris)
    nine_in_vladivostok = datetime(2026, 3, 11, 9, 0, tzinfo=ZoneInfo("Asia/Vladivostok"))
    assert (waiting["status"], datetime.fromisoformat(waiting["next_attempt_at"])) == (
        "queued",
        nine_in_vladivostok,
    )
    clock.fixed = nine_in_vladivostok
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["Welcome, Boris!"]


async def test_quiet_hours_of_a_member_without_receipts_are_the_programs_zone_as_it_is_now(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """A probe: messages went out at 01:51 in Los Angeles after the program moved there, in the
    quiet hours of the zone the program had when they were queued."""
    await shop(tenant, clock, at="2026-03-10T15:00:00")
    await sms_channel(tenant, provider)
    await template(tenant, "welcome", "Welcome, {{ member.name }}!")
    anna = await new_member(tenant, name="Anna")
    await worker.handle_events()  # queued at 15:00 in Moscow, not quiet there
    moved = await tenant.call("PATCH", "/v1/program", {"timezone": "America/Los_Angeles"})
    assert moved.status_code == 200, moved.text
    await worker.drain()  # 04:00 in Los Angeles
    assert provider.requests == []
    (waiting,) = await messages(tenant, anna)
    nine_in_los_angeles = datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert datetime.fromisoformat(waiting["next_attempt_at"]) == nine_in_los_angeles


async def test_retries_honour_retry_after_and_reuse_the_message_id(
    tenant: Tenant, db: Database, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    await template(tenant, "welcome", "Welcome, {{ member.name }}!")
    provider.script.extend([(429, {"Retry-After": "30"}), (500, {}), (200, {})])
    member = await new_member(tenant, name="Anna")
    await worker.drain()
    assert len(provider.requests) == 1
    (message,) = await messages(tenant, member)
    assert (message["status"], message["attempts"], message["error"]) == ("queued", 1, "HTTP 429")
    assert datetime.fromisoformat(message["next_attempt_at"]) == clock() + timedelta(seconds=30)
    # the whole channel waits too, for every worker: its time line frees no slot for 30 s
    await asyncio.gather(*worker.sender._holding)  # the hold is written beside the sending
    async with db.read() as conn:
        assert 25 < await store.bucket_ahead(conn, tenant.tenant_id, "sms") <= 30
        await conn.execute(
            "UPDATE rate_buckets SET tat = clock_timestamp() WHERE tenant_id = %s", (tenant.tenant_id,)
        )
    assert list(worker.sender._held) == [(tenant.tenant_id, "sms")]  # and this worker at once
    worker.sender._held.clear()  # the 30 s are over (the test's clock moves; the loop's does not)

    clock.fixed = clock() + timedelta(seconds=29)
    await worker.drain()
    assert len(provider.requests) == 1  # Retry-After is honoured
    clock.fixed = clock() + timedelta(seconds=1)
    await worker.drain()
    assert len(provider.requests) == 2  # 500: the second failure waits 2 s (doubling from 1 s) + jitter
    clock.fixed = clock() + timedelta(seconds=1.9)
    await worker.drain()
    assert len(provider.requests) == 2
    clock.fixed = clock() + timedelta(seconds=0.6)
    await worker.drain()
    assert len(provider.requests) == 3
    (message,) = await messages(tenant, member)
    assert (message["status"], message["attempts"], message["error"]) == ("sent", 3, None)
    assert {r["id"] for r in provider.requests} == {message["id"]}  # one id on every try


async def test_a_slow_down_stops_the_rest_of_the_batch_at_once(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """The channel was held only once the batch's last answer was in: the messages after a 429
    went on at the full rate meanwhile."""
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    await template(tenant, "welcome", "Hi")
    for _ in range(30):
        await new_member(tenant)
    await worker.handle_events()
    await worker.handle_events()
    provider.script.append((429, {"Retry-After": "5"}))
    await worker.drain()
    # one tick's group went out with the refused message; the other groups of the batch wait
    assert len(provider.requests) < 15 and len(provider.accepted) == len(provider.requests) - 1


async def test_each_channel_is_paced_by_pacers_of_its_own(
    tenant: Tenant, other_tenant: Tenant, worker_db: Database, clock: ManualClock, provider: SmsProvider
) -> None:
    """A worker's sender loops went over every channel in turn, each batch waiting for its slots:
    a program at a rate of 20 got 10 to 12 a second while another sent at 50. Each channel with
    messages due has pacers of its own now, sending batch after batch."""
    for shop_tenant, rate in ((tenant, 50), (other_tenant, 20)):
        await shop(shop_tenant, clock)
        await sms_channel(shop_tenant, provider, rate=rate)
        await template(shop_tenant, "welcome", "Hi")
    for _ in range(20):
        await new_member(tenant)
    for _ in range(10):
        await new_member(other_tenant)
    settings = WorkerSettings(keep_days=0)
    async with Worker(
        worker_db, clock=clock, settings=settings, tenants=[tenant.tenant_id, other_tenant.tenant_id]
    ) as both:
        while await both.handle_events():
            pass
        assert await both.pace_channels() == 0  # the loop looks again after its poll
        assert {(key[0], key[2]) for key in both._pacers} == {
            (tenant.tenant_id, 0),
            (tenant.tenant_id, 1),
            (other_tenant.tenant_id, 0),
            (other_tenant.tenant_id, 1),
        }
        started = time.monotonic()
        while len(provider.accepted) < 30 and time.monotonic() - started < 10:
            await asyncio.sleep(0.05)
        await both._stop_pacers(5)
    assert len(provider.accepted) == 30 and provider.duplicates == 0
    assert all(pacer.done() for pacer in both._pacers.values())


async def test_a_throttling_provider_is_waited_out_as_long_as_a_failing_one(
    tenant: Tenant, db: Database, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """A probe: a provider answering 429 with "Retry-After: 1" every time made a message fail
    for good after 12 tries in 12 seconds, where a 500 backs off for half an hour. Retry-After
    is a least wait; the backoff still grows."""
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    await template(tenant, "welcome", "Welcome, {{ member.name }}!")
    provider.script.extend([(429, {"Retry-After": "1"})] * 4)
    member = await new_member(tenant, name="Anna")
    waits = []
    for tries in range(1, 5):
        await release_holds(worker, db, tenant)  # the second each 429 holds the channel is over
        await worker.drain()
        assert len(provider.requests) == tries
        (message,) = await messages(tenant, member)
        assert (message["status"], message["attempts"]) == ("queued", tries)
        due = datetime.fromisoformat(message["next_attempt_at"])
        waits.append((due - clock()).total_seconds())
        clock.fixed = due
    assert waits[0] >= 1 and [w >= 2**n for n, w in enumerate(waits)] == [True] * 4, waits  # 1, 2, 4, 8 s


async def test_a_worker_paused_after_reserving_slots_gives_them_up(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slots reserved on the shared time line, then a pause (a stalled loop, SIGSTOP): sending
    them afterwards would put them on top of other workers' slots, so they stay queued."""
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    await template(tenant, "welcome", "Hi")
    member = await new_member(tenant)
    reserve = store.reserve_slots

    async def reserve_then_pause(*args: Any) -> float:
        start_in = await reserve(*args)
        time.sleep(0.05)  # blocks the event loop, as a paused process would
        return start_in

    monkeypatch.setattr(store, "reserve_slots", reserve_then_pause)
    await worker.drain(rounds=3)
    assert provider.requests == []
    (message,) = await messages(tenant, member)
    assert (message["status"], message["attempts"]) == ("queued", 0)

    monkeypatch.setattr(store, "reserve_slots", reserve)
    await worker.drain()
    assert len(provider.requests) == 1
    assert (await messages(tenant, member))[0]["status"] == "sent"


async def test_no_request_waits_in_the_client_for_a_slow_provider(
    tenant: Tenant, clock: ManualClock, worker_db: Database, provider: SmsProvider
) -> None:
    """A request that waited for a connection would leave late and bunched with later ones: with
    ``in_flight`` requests unanswered, the next messages stay queued for the next batch."""
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    await template(tenant, "welcome", "Hi")
    members = [await new_member(tenant) for _ in range(5)]
    provider.delay = 0.3
    settings = WorkerSettings(send=SendSettings(in_flight=2))
    async with Worker(worker_db, clock=clock, settings=settings, tenants=[tenant.tenant_id]) as slow:
        await slow.handle_events()
        await slow.send_messages()
        assert len(provider.requests) == 2
        statuses = [(await messages(tenant, m))[0] for m in members]
        assert (
            sorted((m["status"], m["attempts"]) for m in statuses) == [("queued", 0)] * 3 + [("sent", 1)] * 2
        )
        provider.delay = 0.0
        await slow.drain()
    ids = [(await messages(tenant, m))[0]["id"] for m in members]
    assert sorted(provider.accepted) == sorted(ids)
    assert provider.duplicates == 0


async def test_a_message_fails_after_its_last_attempt(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    await template(tenant, "welcome", "Hi")
    provider.script.extend([(500, {})] * 5)
    member = await new_member(tenant)
    for _ in range(6):
        await worker.drain()
        clock.fixed = clock() + timedelta(seconds=60)
    (message,) = await messages(tenant, member)
    assert (message["status"], message["attempts"], message["error"]) == ("failed", 5, "HTTP 500")
    assert len(provider.requests) == 5


async def test_a_withdrawn_consent_stops_a_queued_message(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    await shop(tenant, clock, at="2026-03-10T22:00:00")
    await sms_channel(tenant, provider)
    await template(tenant, "welcome", "Hi")
    member = await new_member(tenant)
    await worker.drain()
    assert (await messages(tenant, member))[0]["status"] == "queued"  # quiet hours
    patch = {"consents": {"sms": False, "email": False}}
    assert (await tenant.call("PATCH", f"/v1/members/{member}", patch)).status_code == 200
    clock.fixed = moscow("2026-03-11T09:00:00")
    await worker.drain()
    (message,) = await messages(tenant, member)
    assert message["status"] == "failed" and "consent" in message["error"] and provider.requests == []


async def test_welcome_email_through_a_real_smtp_server(
    tenant: Tenant, clock: ManualClock, worker: Worker, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    await shop(tenant, clock)
    channel = {"host": "127.0.0.1", "port": port, "from": "club@shop.example", "password": "pw"}
    response = await tenant.call("PUT", "/v1/channels/email", channel)
    assert response.status_code == 200 and response.json()["password"] == "***"
    await template(
        tenant,
        "welcome",
        "Hello {{ member.name }}, you are {{ member.tier.name }}.",
        channel="email",
        subject="Welcome to the club, {{ member.name }}",
    )
    await template(tenant, "welcome", "sms text", channel="sms")  # no SMS channel consent below
    anna = await new_member(tenant, sms=False, email="anna@example.com", name="Anna")
    await new_member(tenant, sms=False)  # consents to nothing
    await worker.drain()
    (envelope,) = inbox.envelopes
    assert envelope.rcpt_tos == ["anna@example.com"] and envelope.mail_from == "club@shop.example"
    text = envelope.content.decode()
    (message,) = await messages(tenant, anna)
    assert "Subject: Welcome to the club, Anna" in text and f"Message-ID: <{message['id']}@patron>" in text
    assert "Hello Anna, you are Base." in text
    assert (message["channel"], message["status"], message["recipient"]) == (
        "email",
        "sent",
        "anna@example.com",
    )


# --- scheduled work --------------------------------------------------------------------------


async def test_birthday_gift_once_a_year_at_local_midnight(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    await shop(tenant, clock, birthday={"points": 300, "valid_days": 14, "days_before": 3})
    await sms_channel(tenant, provider)
    await template(tenant, "birthday", "+{{ points }} до {{ expires_at | date('d MMMM') }}", locale="ru")
    member = await new_member(tenant, birthday="1990-03-15")
    await new_member(tenant, birthday="1990-03-25")  # not yet
    await worker.drain()
    # a CRM's adjustment keyed as the gift is keyed took the gift (or, after it, answered 500)
    clash = {"key": "birthday:2026", "points": 1, "reason": "birthday bonus"}
    refused = await tenant.call("POST", f"/v1/members/{member}/adjustments", clash)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "key"

    clock.fixed = moscow("2026-03-11T23:59:59")
    assert (await worker.run_schedule())["birthdays"] == 0
    clock.fixed = moscow("2026-03-12T00:30:00")
    assert (await worker.run_schedule())["birthdays"] == 1
    assert (await worker.run_schedule())["birthdays"] == 0  # once
    lots = (await tenant.call("GET", f"/v1/members/{member}/lots")).json()
    (gift,) = [lot for lot in lots if lot["kind"] == "birthday"]
    assert gift["points"] == 300
    assert datetime.fromisoformat(gift["available_from"]) == moscow("2026-03-12T00:00:00")
    assert datetime.fromisoformat(gift["expires_at"]) == moscow("2026-03-26T00:00:00")
    balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
    assert balance["available"] == 300

    await worker.drain()  # the points.birthday event queues the message, which waits for 09:00
    (message,) = [m for m in await messages(tenant, member) if m["trigger"] == "birthday"]
    assert message["status"] == "queued" and message["body"] == "+300 до 26 марта"
    clock.fixed = moscow("2026-03-12T09:00:00")
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["+300 до 26 марта"]

    clock.fixed = moscow("2027-03-12T10:00:00")
    assert (await worker.run_schedule())["birthdays"] == 1  # next year again
    lots = (await tenant.call("GET", f"/v1/members/{member}/lots")).json()
    assert len([lot for lot in lots if lot["kind"] == "birthday"]) == 2


async def test_a_birthday_gift_expires_on_the_date_of_the_zone_that_bounds_it(
    tenant: Tenant, clock: ManualClock, worker: Worker
) -> None:
    """The gift is bounded by midnights of the member's zone (their latest store's); the balance
    listed its expiry on the program's date, a day earlier than the lot's own for a member in
    Kiritimati (UTC+14) of a Moscow program."""
    await shop(tenant, clock, birthday={"points": 50, "valid_days": 14, "days_before": 3})
    kiritimati = {
        "name": "Line Islands",
        "country": "KI",
        "city": "Kiritimati",
        "timezone": "Pacific/Kiritimati",
    }
    assert (await tenant.call("PUT", "/v1/stores/KIR", kiritimati)).status_code == 201
    member = await new_member(tenant, birthday="1990-03-15")
    await receipt(tenant, {**basket(("TEE", 1, "10.00"), member=member), "store": "KIR"})  # their zone
    await worker.drain()
    clock.fixed = datetime(2026, 3, 12, 0, 30, tzinfo=ZoneInfo("Pacific/Kiritimati"))
    assert (await worker.run_schedule())["birthdays"] == 1
    lots = (await tenant.call("GET", f"/v1/members/{member}/lots")).json()
    (gift,) = [lot for lot in lots if lot["kind"] == "birthday"]
    expires = datetime.fromisoformat(gift["expires_at"]).astimezone(ZoneInfo("Pacific/Kiritimati"))
    assert (expires.date().isoformat(), expires.hour, expires.minute) == ("2026-03-26", 0, 0)
    balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
    assert {"date": "2026-03-26", "points": 50} in balance["expiring"]


async def test_the_birthday_job_reads_only_near_birthdays_from_their_index(
    tenant: Tenant, db: Database
) -> None:
    """The job runs every minute: on a tenant of millions it must not read every member (a
    million members: 550 ms of three processes without the index, 116 ms of one with it)."""
    near = await new_member(tenant, birthday="1985-12-01")
    async with db.transaction() as conn:  # enough members that reading them all costs more
        await conn.execute(
            "INSERT INTO members (tenant_id, phone, birthday)"
            " SELECT %s, '+1555' || lpad(i::text, 7, '0'), date '1950-01-03' + i %% 300 FROM generate_series(1, 20000) i",
            (tenant.tenant_id,),
        )
        await conn.execute("ANALYZE members")
    async with db.transaction() as conn:
        found = await schedule_store.birthday_candidates(conn, tenant.tenant_id, [(1201, 2026), (1202, 2026)])
        row = await (
            await conn.execute(
                "SELECT pg_stat_get_xact_numscans('members_birthday'::regclass) AS scans,"
                " pg_stat_get_xact_numscans('members'::regclass) AS table_scans"
            )
        ).fetchone()
    assert [m["id"] for m in found] == [near]
    assert row is not None and row["scans"] > 0 and row["table_scans"] == 0


async def test_expiring_points_are_announced_once_per_lot(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    # the date filter, and the moment's text itself (checked on text when saved, it was a datetime
    # when sent: every real message failed)
    body = "{{ points }} баллов сгорят {{ expires_at | date('dd.MM') }} ({{ lots[0].expires_at[:4] }})"
    await template(tenant, "points_expiring", body)
    member = await new_member(tenant)
    for key, days in (("a", 10), ("b", 12)):
        body = {"key": key, "points": 40 if key == "a" else 2, "reason": "gift", "valid_days": days}
        assert (await tenant.call("POST", f"/v1/members/{member}/adjustments", body)).status_code == 201
    await worker.drain()

    assert (await worker.run_schedule())["expiring"] == 0  # 10 and 12 days away
    clock.fixed = moscow("2026-03-14T12:00:00")  # lot a expires 2026-03-20 00:00: within 7 days
    assert (await worker.run_schedule())["expiring"] == 1
    assert (await worker.run_schedule())["expiring"] == 0
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["40 баллов сгорят 20.03 (2026)"]
    clock.fixed = moscow("2026-03-16T12:00:00")
    assert (await worker.run_schedule())["expiring"] == 1
    await worker.drain()
    assert [r["text"] for r in provider.requests][1:] == ["2 баллов сгорят 22.03 (2026)"]


async def test_a_notice_held_past_its_points_expiry_or_spending_is_dropped(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """A notice found at 22:00 waits for 09:00; a 1-day lot expired at midnight meanwhile, and a
    lot spent meanwhile announces nothing either: those fail, saying why; a lot still there is sent."""
    await shop(tenant, clock, at="2026-03-10T22:00:00")
    await sms_channel(tenant, provider)
    await template(tenant, "points_expiring", "{{ points }} {{ member.name }}")
    lots = {"expired": 1, "spent": 3, "alive": 3}
    members = {name: await new_member(tenant, name=name) for name in lots}
    for name, days in lots.items():
        body = {"key": name, "points": 5, "reason": "gift", "valid_days": days}
        assert (
            await tenant.call("POST", f"/v1/members/{members[name]}/adjustments", body)
        ).status_code == 201
    assert (await worker.run_schedule())["expiring"] == 3
    await worker.drain()
    assert provider.requests == []  # quiet hours
    spend = {"key": "spend", "points": -5, "reason": "used"}
    assert (
        await tenant.call("POST", f"/v1/members/{members['spent']}/adjustments", spend)
    ).status_code == 201
    clock.fixed = moscow("2026-03-11T09:00:00")
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["5 alive"]
    for name in ("expired", "spent"):
        (notice,) = [m for m in await messages(tenant, members[name]) if m["trigger"] == "points_expiring"]
        assert notice["status"] == "failed", notice
        assert notice["error"] == "the points it announces expired or were spent before it could be sent"


async def test_expiring_points_are_looked_for_once_an_hour(
    tenant: Tenant, clock: ManualClock, worker: Worker
) -> None:
    await shop(tenant, clock)
    await template(tenant, "points_expiring", "{{ points }}")
    member = await new_member(tenant)
    hourly = Worker(worker.db, clock=clock, settings=WorkerSettings(keep_days=0), tenants=[tenant.tenant_id])
    start = clock()

    async def lot(key: str) -> None:
        body = {"key": key, "points": 5, "reason": "gift", "valid_days": 3}
        assert (await tenant.call("POST", f"/v1/members/{member}/adjustments", body)).status_code == 201

    await lot("first")
    assert (await hourly.run_schedule(start))["expiring"] == 1
    await lot("second")
    assert (await hourly.run_schedule(start + timedelta(minutes=59)))["expiring"] == 0  # not looked for
    assert (await worker.run_schedule(start + timedelta(minutes=59)))["expiring"] == 1  # it was due
    await lot("third")
    assert (await hourly.run_schedule(start + timedelta(minutes=60)))["expiring"] == 1


async def test_notices_of_long_expired_lots_are_deleted(
    tenant: Tenant, db: Database, clock: ManualClock, worker: Worker
) -> None:
    await shop(tenant, clock)
    await template(tenant, "points_expiring", "{{ points }}")
    member = await new_member(tenant)
    for key, days in (("short", 3), ("long", 50)):
        body = {"key": key, "points": days, "reason": "gift", "valid_days": days}  # points tell them apart
        assert (await tenant.call("POST", f"/v1/members/{member}/adjustments", body)).status_code == 201
    start = clock()
    assert (await worker.run_schedule(start))["expiring"] == 1  # the short lot

    async def notices() -> list[int]:
        async with db.read() as conn:
            cur = await conn.execute(
                "SELECT l.points FROM expiry_notices n"
                " JOIN lots l ON l.tenant_id = n.tenant_id AND l.id = n.lot_id WHERE n.tenant_id = %s",
                (tenant.tenant_id,),
            )
            return sorted(row["points"] for row in await cur.fetchall())

    # a day's keeping: a notice is older than that well before its lot expires
    pruning = Worker(worker.db, clock=clock, settings=WorkerSettings(keep_days=1), tenants=[tenant.tenant_id])
    assert (await pruning.run_schedule(start + timedelta(days=3)))["pruned"] == 0  # expired under a day ago
    assert await notices() == [3]
    assert (await worker.run_schedule(start + timedelta(days=45)))["expiring"] == 1  # the long one
    assert (await pruning.run_schedule(start + timedelta(days=47)))["pruned"] == 1
    assert await notices() == [50]  # its lot expires in two days: the notice stays
    assert (await worker.run_schedule(start + timedelta(days=47)))["expiring"] == 0  # announced once


async def test_tiers_change_with_receipts_and_when_purchases_leave_the_window(
    tenant: Tenant, db: Database, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    tiers = [
        {"code": "base", "name": "Base", "threshold": "0", "earn_percent": "5"},
        {"code": "silver", "name": "Silver", "threshold": "1000", "earn_percent": "7"},
    ]
    await shop(tenant, clock, tiers=tiers, tier_window_days=30)
    await sms_channel(tenant, provider)
    await template(tenant, "tier_changed", "{{ previous_tier.name }} -> {{ tier.name }}")
    member = await new_member(tenant)
    sale = await receipt(tenant, basket(("TEE", 1, "1200.00"), member=member))
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["Base -> Silver"]

    clock.fixed = moscow("2026-04-09T11:59:00")
    assert (await worker.run_schedule())["tiers"] == 0
    clock.fixed = moscow("2026-04-09T12:00:02")  # 30 days after the purchase
    assert (await worker.run_schedule())["tiers"] == 1
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["Base -> Silver", "Silver -> Base"]

    clock.fixed = moscow("2026-04-10T12:00:00")
    again = await receipt(tenant, basket(("TEE", 1, "1000.00"), member=member))
    await worker.drain()
    assert provider.requests[-1]["text"] == "Base -> Silver"
    returned = {"number": "R-1", "lines": [{"line": 1, "quantity": 1}]}
    assert (await tenant.call("POST", f"/v1/receipts/{again['id']}/returns", returned)).status_code == 201
    await worker.drain()
    assert provider.requests[-1]["text"] == "Silver -> Base"
    changes = [e for e in await outbox_events(db, tenant) if e["type"] == "member.tier_changed"]
    assert [(e["data"]["previous_tier"]["code"], e["data"]["tier"]["code"]) for e in changes] == [
        ("base", "silver"),
        ("silver", "base"),
        ("base", "silver"),
        ("silver", "base"),
    ]
    # money as contract 2 writes it (it was "1200.0000", the column's scale)
    assert [e["data"]["paid_in_window"] for e in changes] == ["1200.00", "0.00", "1000.00", "0.00"]
    assert sale["member"]["tier"] == "base"


async def test_a_change_of_the_programs_tier_rules_evaluates_every_members_tier_again(
    tenant: Tenant, db: Database, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """The tiers the back office holds were decided by the program's rules of then: a shorter
    window, a higher threshold or a longer window changes them (without this, the member stayed
    "silver" in broadcasts and templates until their old next check, up to a year away)."""
    tiers = [
        {"code": "base", "name": "Base", "threshold": "0", "earn_percent": "5"},
        {"code": "silver", "name": "Silver", "threshold": "1000", "earn_percent": "7"},
    ]
    await shop(tenant, clock, tiers=tiers, tier_window_days=30)
    await sms_channel(tenant, provider)
    await template(tenant, "tier_changed", "{{ previous_tier.name }} -> {{ tier.name }}")
    buyer = await new_member(tenant)
    idle = await new_member(tenant)
    await receipt(tenant, basket(("TEE", 1, "1200.00"), member=buyer))
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["Base -> Silver"]

    clock.fixed += timedelta(days=2)
    assert (await tenant.call("PATCH", "/v1/program", {"tier_window_days": 1})).status_code == 200
    await worker.drain()  # the change's event: every member is due now
    assert (await worker.run_schedule())["tiers"] == 2
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["Base -> Silver", "Silver -> Base"]
    assert (await worker.run_schedule())["tiers"] == 0  # evaluated once

    clock.fixed += timedelta(minutes=1)
    assert (await tenant.call("PATCH", "/v1/program", {"tier_window_days": 30})).status_code == 200
    await worker.drain()
    assert (await worker.run_schedule())["tiers"] == 2
    await worker.drain()
    assert provider.requests[-1]["text"] == "Base -> Silver"
    # a change that decides no tier (a name, the base earn_percent) is no new evaluation
    tiers[1]["name"] = "Argent"
    assert (await tenant.call("PATCH", "/v1/program", {"tiers": tiers})).status_code == 200
    await worker.drain()
    assert (await worker.run_schedule())["tiers"] == 0
    changes = [e for e in await outbox_events(db, tenant) if e["type"] == "member.tier_changed"]
    assert [(e["member_id"], e["data"]["tier"]["code"]) for e in changes] == [
        (buyer, "silver"),
        (buyer, "base"),
        (buyer, "silver"),
    ]
    assert idle not in {e["member_id"] for e in changes}
    # a broadcast by tier reaches the members of the tier as it is now
    before = len(provider.requests)
    body = {"channel": "sms", "body": "{{ member.tier.code }}", "filter": {"tier": "silver"}}
    assert (await tenant.call("POST", "/v1/broadcasts", body)).status_code == 202
    await worker.drain()
    assert [r["text"] for r in provider.requests[before:]] == ["silver"]


async def test_a_change_of_the_programs_tier_rules_evaluates_imported_members_too(
    tenant: Tenant,
    database_url: str,
    clock: ManualClock,
    worker: Worker,
    provider: SmsProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A probe: imported members with imported receipts had no tier row (no worker evaluated
    them), so a program change that re-evaluated "every member" skipped them, and a broadcast to
    silver reached none of them until their next receipt. They are taken in batches (of one here)."""
    tiers = [
        {"code": "base", "name": "Base", "threshold": "0", "earn_percent": "5"},
        {"code": "silver", "name": "Silver", "threshold": "1000", "earn_percent": "7"},
    ]
    await shop(tenant, clock, tiers=tiers, tier_window_days=30)
    await sms_channel(tenant, provider)
    await template(tenant, "tier_changed", "{{ previous_tier.code }}->{{ tier.code }}")
    phones = {"recent": "+79007000001", "small": "+79007000002", "old": "+79007000003"}
    people = write_csv(
        tmp_path / "m.csv",
        ["phone", "name", "consent_sms"],
        [[p, name, "true"] for name, p in phones.items()],
    )
    assert (await load(database_url, tenant, "members", people)).loaded == 3
    sales = [("recent", 5, "200"), ("small", 5, "100"), ("old", 60, "900")]  # (who, days ago, paid)
    rows = [
        [
            "MSK",
            f"I-{who}",
            (clock() - timedelta(days=days)).isoformat(),
            phones[who],
            "",
            "",
            "TEE",
            "1",
            paid,
        ]
        for who, days, paid in sales
    ]
    imported = write_csv(tmp_path / "r.csv", RECEIPT_HEADER[:9], rows)
    assert (await load(database_url, tenant, "receipts", imported)).loaded == 3
    await worker.drain()  # the shop's own program changes
    batches: list[int] = []
    tracking = getattr(store, "track_tiers_due", None)

    async def one_at_a_time(*args: Any) -> str | None:
        batches.append(1)
        assert tracking is not None
        return await tracking(*args[:-1], 1)

    monkeypatch.setattr(store, "track_tiers_due", one_at_a_time, raising=False)
    tiers[1]["threshold"] = "150"
    assert (await tenant.call("PATCH", "/v1/program", {"tiers": tiers})).status_code == 200
    await worker.drain()
    assert (await worker.run_schedule())["tiers"] == 2
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["base->silver"]
    body = {
        "channel": "sms",
        "body": "{{ member.name }} {{ member.tier.code }}",
        "filter": {"tier": "silver"},
    }
    assert (await tenant.call("POST", "/v1/broadcasts", body)).status_code == 202
    await worker.drain()
    assert [r["text"] for r in provider.requests[1:]] == ["recent silver"]
    assert len(batches) == 3  # the two members of the window, and a look that found no more


async def test_tier_changed_into_and_out_of_no_tier_renders(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """A program without a tier at threshold 0: a member's first promotion and their drop below
    the lowest threshold are changes from and to "no tier", whose code and name print as nothing."""
    tiers = [{"code": "silver", "name": "Silver", "threshold": "100", "earn_percent": "10"}]
    await shop(tenant, clock, tiers=tiers, tier_window_days=30)
    await sms_channel(tenant, provider)
    await template(
        tenant, "tier_changed", "{{ previous_tier.code }}->{{ tier.code }} [{{ member.tier.name }}]"
    )
    member = await new_member(tenant)
    sale = await receipt(tenant, basket(("TEE", 1, "150.00"), member=member))
    await worker.drain()
    assert (await tenant.call("POST", f"/v1/receipts/{sale['id']}/cancel")).status_code == 200
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["->silver [Silver]", "silver-> []"]
    assert all(m["status"] == "sent" for m in await messages(tenant, member))


async def test_a_base_tier_added_to_a_program_without_one_is_a_change_from_no_tier(
    tenant: Tenant, db: Database, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """A probe: the member's previous tier, "no tier", was told as the tier of no purchases under
    the new program, the new base tier itself: "base -> base", in the message and the webhook."""
    tiers = [{"code": "silver", "name": "Silver", "threshold": "100", "earn_percent": "10"}]
    await shop(tenant, clock, tiers=tiers, tier_window_days=30)
    await sms_channel(tenant, provider)
    await template(tenant, "tier_changed", "{{ previous_tier.code }}->{{ tier.code }}")
    member = await new_member(tenant)
    await worker.drain()
    base = {"code": "base", "name": "Base", "threshold": "0", "earn_percent": "5"}
    assert (await tenant.call("PATCH", "/v1/program", {"tiers": [base, *tiers]})).status_code == 200
    await worker.drain()
    assert (await worker.run_schedule())["tiers"] == 1
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["->base"]
    (change,) = [e for e in await outbox_events(db, tenant) if e["type"] == "member.tier_changed"]
    assert change["member_id"] == member
    assert (change["data"]["previous_tier"], change["data"]["tier"]["code"]) == (None, "base")


async def test_a_tier_change_is_the_tier_when_the_worker_handles_it(
    tenant: Tenant, db: Database, clock: ManualClock, worker: Worker
) -> None:
    """A sale and its cancel both made before the worker handles them are no change: the customer
    is not told "Silver" for a sale voided at the till. And a receipt a till sends late, dated
    before the last one, changes nothing it did not change (evaluating at past moments made the
    tier flap: Silver, Base, Silver)."""
    tiers = [
        {"code": "base", "name": "Base", "threshold": "0", "earn_percent": "5"},
        {"code": "silver", "name": "Silver", "threshold": "100", "earn_percent": "10"},
    ]
    await shop(tenant, clock, tiers=tiers, tier_window_days=30)
    voided = await new_member(tenant)
    sale = await receipt(tenant, basket(("TEE", 1, "150.00"), member=voided))
    clock.fixed += timedelta(minutes=5)
    assert (await tenant.call("POST", f"/v1/receipts/{sale['id']}/cancel")).status_code == 200
    await worker.drain()
    steady = await new_member(tenant)
    await receipt(tenant, basket(("TEE", 1, "200.00"), member=steady))
    await worker.drain()
    late = basket(("TEE", 1, "10.00"), member=steady)
    late["at"] = (clock() - timedelta(hours=1)).isoformat()
    await receipt(tenant, late)
    await worker.drain()
    changes = [e for e in await outbox_events(db, tenant) if e["type"] == "member.tier_changed"]
    assert [
        (e["member_id"], e["data"]["previous_tier"]["code"], e["data"]["tier"]["code"]) for e in changes
    ] == [(steady, "base", "silver")]


# --- broadcasts ------------------------------------------------------------------------------


async def test_broadcast_filters_and_progress(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    buyer = await new_member(tenant, name="Buyer", city="Moscow")
    await new_member(tenant, name="Idle", city="moscow")
    await new_member(tenant, name="Silent", city="Moscow", sms=False)
    await new_member(tenant, name="Far", city="Omsk")
    await receipt(tenant, basket(("TEE", 1, "10.00"), member=buyer))

    body = {"channel": "sms", "body": "{{ member.name }}: sale!", "filter": {"city": "Moscow"}}
    response = await tenant.call("POST", "/v1/broadcasts", body)
    assert response.status_code == 202, response.text
    broadcast = response.json()
    assert broadcast["status"] == "preparing" and broadcast["total"] == 0
    await worker.drain()
    progress = (await tenant.call("GET", f"/v1/broadcasts/{broadcast['id']}")).json()
    assert (progress["status"], progress["total"], progress["sent"], progress["queued"]) == ("done", 2, 2, 0)
    assert sorted(r["text"] for r in provider.requests) == ["Buyer: sale!", "Idle: sale!"]

    recent = {
        "channel": "sms",
        "body": "thanks",
        "filter": {"last_purchase_after": "2026-03-10", "tier": "base"},
    }
    second = (await tenant.call("POST", "/v1/broadcasts", recent)).json()
    await worker.drain()
    assert (await tenant.call("GET", f"/v1/broadcasts/{second['id']}")).json()["sent"] == 1
    before = {"channel": "sms", "body": "miss you", "filter": {"last_purchase_before": "2026-03-10"}}
    third = (await tenant.call("POST", "/v1/broadcasts", before)).json()
    await worker.drain()
    nobody = (await tenant.call("GET", f"/v1/broadcasts/{third['id']}")).json()
    assert (nobody["status"], nobody["total"]) == ("done", 0)
    assert datetime.fromisoformat(nobody["finished_at"]) == clock()  # done, though it sent nothing
    assert datetime.fromisoformat(progress["finished_at"]) <= clock()
    listed = (await tenant.call("GET", "/v1/messages", params={"broadcast": broadcast["id"]})).json()
    assert {m["trigger"] for m in listed} == {"broadcast"} and len(listed) == 2
    first = await tenant.call("GET", "/v1/messages", params={"broadcast": broadcast["id"], "limit": 1})
    assert len(first.json()) == 1 and "X-Next-Before" in first.headers
    params = {"broadcast": broadcast["id"], "limit": 1, "before": first.headers["X-Next-Before"]}
    second = await tenant.call("GET", "/v1/messages", params=params)
    assert [m["id"] for m in first.json() + second.json()] == [m["id"] for m in listed]
    unknown = await tenant.call("GET", "/v1/messages", params={"broadcast": str(uuid.uuid4())})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "broadcast_not_found"


async def test_a_broadcasts_city_is_matched_whatever_its_unicode_form(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """A member's "Mu\u0308nchen" (decomposed, as macOS and PIM exports write it) was not in a
    filter's "München", and a filter written decomposed missed the precomposed members."""
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    await new_member(tenant, name="Decomposed", city="Mu\u0308nchen")
    await new_member(tenant, name="Precomposed", city="M\u00fcnchen")
    await new_member(tenant, name="Far", city="Munchen")
    for city in ("M\u00dcNCHEN", "mu\u0308nchen"):
        provider.requests.clear()
        body = {"channel": "sms", "body": "{{ member.name }}", "filter": {"city": city}}
        response = await tenant.call("POST", "/v1/broadcasts", body)
        assert response.status_code == 202, response.text
        await worker.drain()
        assert sorted(r["text"] for r in provider.requests) == ["Decomposed", "Precomposed"], city


async def test_a_cancelled_receipt_is_no_last_purchase(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """A sale voided at the till moved the member into "bought since" broadcasts (and would move
    their quiet hours and locale to its store)."""
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    voided = await new_member(tenant, name="Voided")
    sale = await receipt(tenant, basket(("TEE", 1, "10.00"), member=voided))
    assert (await tenant.call("POST", f"/v1/receipts/{sale['id']}/cancel")).status_code == 200
    buyer = await new_member(tenant, name="Buyer")
    await receipt(tenant, basket(("TEE", 1, "10.00"), member=buyer))
    recent = {"channel": "sms", "body": "{{ member.name }}", "filter": {"last_purchase_after": "2026-03-10"}}
    made = (await tenant.call("POST", "/v1/broadcasts", recent)).json()
    await worker.drain()
    assert (await tenant.call("GET", f"/v1/broadcasts/{made['id']}")).json()["total"] == 1
    assert [r["text"] for r in provider.requests if r["text"] in ("Voided", "Buyer")] == ["Buyer"]


async def test_a_broadcasts_messages_are_written_once_with_their_outcome(
    tenant: Tenant,
    clock: ManualClock,
    patient_worker: Worker,
    provider: SmsProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No message is written before its page is sent, and then once, with its outcome and an id
    made from the broadcast's and the member's; members in quiet hours are written queued, due at
    09:00, and go then."""
    monkeypatch.setattr(broadcasts, "LOOK", 2)  # pages of two members: lanes take several
    await shop(tenant, clock, at="2026-03-10T22:00:00")  # quiet hours in Moscow
    await sms_channel(tenant, provider)
    members = [await new_member(tenant, name=f"M{n}") for n in range(7)]
    await new_member(tenant, name="Silent", sms=False)
    for n in range(20):  # members a page looks at and skips: some lanes take several pages, some none
        await new_member(tenant, name=f"S{n}", sms=False)
    made = (
        await tenant.call("POST", "/v1/broadcasts", {"channel": "sms", "body": "hi {{ member.name }}"})
    ).json()

    async def progress() -> tuple[str, int | None, int, int]:
        got = (await tenant.call("GET", f"/v1/broadcasts/{made['id']}")).json()
        return got["status"], got["audience"], got["total"], got["queued"]

    assert await progress() == ("preparing", None, 0, 0)
    assert await patient_worker.open_broadcasts() == 1
    assert await progress() == ("preparing", 7, 0, 0)  # the audience is counted when it opens
    assert await patient_worker.open_broadcasts() == 0
    await patient_worker.drain()
    assert provider.requests == []
    assert await progress() == ("sending", 7, 7, 7)  # every lane done; all put off to 09:00
    log = (await tenant.call("GET", "/v1/messages", params={"broadcast": made["id"]})).json()
    assert sorted(m["id"] for m in log) == sorted(broadcasts.message_id(made["id"], m) for m in members)
    assert {(m["status"], m["attempts"]) for m in log} == {("queued", 0)}

    clock.fixed = moscow("2026-03-11T09:00:00")
    await patient_worker.drain()
    assert await progress() == ("done", 7, 7, 0)
    assert sorted(r["text"] for r in provider.requests) == [f"hi M{n}" for n in range(7)]
    assert sorted(r["id"] for r in provider.requests) == sorted(m["id"] for m in log)

    provider.requests.clear()
    clock.fixed = moscow("2026-03-11T12:00:00")
    now = (await tenant.call("POST", "/v1/broadcasts", {"channel": "sms", "body": "now"})).json()
    assert await patient_worker.open_broadcasts() == 1
    sent, handled = 0, 1
    while handled:
        so_far = (await tenant.call("GET", f"/v1/broadcasts/{now['id']}")).json()
        assert (so_far["total"], so_far["queued"]) == (sent, 0)  # written as sent, not before
        handled = await patient_worker.send_messages()
        sent = len(provider.requests)
    assert sent == 7
    log = (await tenant.call("GET", "/v1/messages", params={"broadcast": now["id"]})).json()
    assert {(m["status"], m["attempts"]) for m in log} == {("sent", 1)} and len(log) == 7


async def test_a_broadcast_message_that_fails_to_render_is_written_failed_and_not_sent(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """A template that passed the check at saving can still fail for one member's values: that
    member's message is written once, failed with the template's error, and the rest go."""
    await shop(tenant, clock)  # 12:00 in Moscow: no quiet hours
    await sms_channel(tenant, provider)
    short = await new_member(tenant, name="A")
    await new_member(tenant, name="Alexander")
    made = await tenant.call("POST", "/v1/broadcasts", {"channel": "sms", "body": "{{ member.name[1] }}"})
    assert made.status_code == 202, made.text
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["l"]
    log = (await tenant.call("GET", "/v1/messages", params={"broadcast": made.json()["id"]})).json()
    failed = [m for m in log if m["status"] == "failed"]
    assert [(m["member_id"], m["attempts"]) for m in failed] == [(short, 0)]
    assert failed[0]["error"].startswith("template: ")
    progress = (await tenant.call("GET", f"/v1/broadcasts/{made.json()['id']}")).json()
    assert (progress["status"], progress["total"], progress["sent"], progress["failed"]) == ("done", 2, 1, 1)


async def test_a_broadcast_expanded_before_lanes_goes_on_from_its_cursor(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider, db: Database
) -> None:
    """A broadcast half expanded before migration 0028 (its first members queued under the old
    dedup keys, its cursor at the last of them) is finished after the upgrade: the queued ones
    go, and only the members after the cursor get new messages. Nobody gets two."""
    await shop(tenant, clock)  # 12:00 in Moscow: no quiet hours
    await sms_channel(tenant, provider)
    members = sorted([await new_member(tenant, name=f"M{n}") for n in range(6)], key=uuid.UUID)
    made = (await tenant.call("POST", "/v1/broadcasts", {"channel": "sms", "body": "hello"})).json()
    old = [
        store.NewMessage(m, "broadcast", "sms", "en", None, "hello", "UTC", f"b:{made['id']}:{m}", made["id"])
        for m in members[:3]
    ]
    async with db.transaction() as conn:  # what a worker of before left
        assert await store.insert_messages(conn, tenant.tenant_id, old, clock()) == 3
        await conn.execute(
            "UPDATE broadcasts SET cursor = %s, audience = 6, total = 3 WHERE tenant_id = %s AND id = %s",
            (members[2], tenant.tenant_id, made["id"]),
        )
    await worker.drain()
    log = (await tenant.call("GET", "/v1/messages", params={"broadcast": made["id"]})).json()
    assert sorted(m["member_id"] for m in log) == members and {m["status"] for m in log} == {"sent"}
    new_ids = {broadcasts.message_id(made["id"], m) for m in members[3:]}
    assert {m["id"] for m in log if m["member_id"] in members[3:]} == new_ids
    assert len(provider.requests) == 6 and len({r["id"] for r in provider.requests}) == 6
    progress = (await tenant.call("GET", f"/v1/broadcasts/{made['id']}")).json()
    assert (progress["status"], progress["total"], progress["sent"]) == ("done", 6, 6)


async def test_stopping_a_broadcast_waits_only_for_the_page_a_sender_holds(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider, db: Database
) -> None:
    """The cancel is committed at once, so that no sender takes another page of the broadcast;
    its answer waits for the page a sender holds, and a message of that page written queued (its
    slot missed) fails as cancelled. Nothing goes out after the answer."""
    await shop(tenant, clock)  # 12:00 in Moscow: no quiet hours
    await sms_channel(tenant, provider)
    for n in range(3):
        await new_member(tenant, name=f"M{n}")
    made = await tenant.call("POST", "/v1/broadcasts", {"channel": "sms", "body": "hello"})
    broadcast = made.json()["id"]
    assert await worker.open_broadcasts() == 1

    async def status() -> str:
        return str((await tenant.call("GET", f"/v1/broadcasts/{broadcast}")).json()["status"])

    async with db.transaction() as conn:  # a sender in the middle of sending a page of it
        page = None
        while page is None or not page.ready:
            if page is not None:  # a lane with no member: recorded done, the next one
                await broadcasts.record_page(conn, page, [], clock())
            page = await broadcasts.take_page(conn, Tenants(), tenant.tenant_id, "sms", 1)
            assert page is not None
        stopping = asyncio.create_task(tenant.call("POST", f"/v1/broadcasts/{broadcast}/cancel"))
        for _ in range(200):  # the first step commits without waiting for the held page
            if await status() == "cancelled":
                break
            await asyncio.sleep(0.01)
        assert await status() == "cancelled"
        assert not stopping.done()  # ... and the answer waits for the held page
        message, _ = page.ready[0]
        await broadcasts.record_page(conn, page, [message], clock())  # its slot was missed: queued
    stopped = await asyncio.wait_for(stopping, timeout=10)
    assert stopped.status_code == 200, stopped.text
    assert (stopped.json()["total"], stopped.json()["failed"], stopped.json()["cancelled"]) == (1, 1, 1)
    await worker.drain()
    assert provider.requests == []
    log = (await tenant.call("GET", "/v1/messages", params={"broadcast": broadcast})).json()
    assert [(m["status"], m["error"]) for m in log] == [("failed", "broadcast cancelled")]


async def test_a_stopped_broadcasts_queued_messages_fail_and_a_held_one_back_for_a_retry_too(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider, db: Database
) -> None:
    """Messages written queued (quiet hours) fail as cancelled at once; one a sender holds is
    waited for, and fails as cancelled when it comes back for a retry."""
    await shop(tenant, clock, at="2026-03-10T22:00:00")  # quiet hours in Moscow
    await sms_channel(tenant, provider)
    for n in range(3):
        await new_member(tenant, name=f"M{n}")
    broadcast = (await tenant.call("POST", "/v1/broadcasts", {"channel": "sms", "body": "hello"})).json()[
        "id"
    ]
    await worker.drain()  # written queued, due at 09:00
    clock.fixed = moscow("2026-03-11T09:00:00")

    async def log() -> list[tuple[str, str | None]]:
        messages = (await tenant.call("GET", "/v1/messages", params={"broadcast": broadcast})).json()
        return sorted((m["status"], m["error"]) for m in messages)

    assert await log() == [("queued", None)] * 3
    async with db.transaction() as conn:  # a sender in the middle of sending one of them
        (held,) = await store.claim_messages(conn, tenant.tenant_id, "sms", clock(), 1)
        stopping = asyncio.create_task(tenant.call("POST", f"/v1/broadcasts/{broadcast}/cancel"))
        for _ in range(200):
            if await log() == [("failed", "broadcast cancelled")] * 2 + [("queued", None)]:
                break
            await asyncio.sleep(0.01)
        assert await log() == [("failed", "broadcast cancelled")] * 2 + [("queued", None)]
        assert not stopping.done()
        retry = MessageUpdate.of(held, "queued", 1, next_attempt_at=clock(), error="HTTP 500")
        await store.update_messages(conn, [retry])
    stopped = await asyncio.wait_for(stopping, timeout=10)
    assert stopped.status_code == 200 and stopped.json()["cancelled"] == 3
    await worker.drain()
    assert provider.requests == []
    assert await log() == [("failed", "broadcast cancelled")] * 3


async def test_a_broadcast_can_be_stopped(
    tenant: Tenant, other_tenant: Tenant, clock: ManualClock, patient_worker: Worker, provider: SmsProvider
) -> None:
    """Cancelling stops the sending; what was sent stays sent, and nothing more goes."""
    await shop(tenant, clock)  # 12:00 in Moscow: no quiet hours
    await sms_channel(tenant, provider)
    for n in range(7):
        await new_member(tenant, name=f"M{n}")

    async def broadcast(text: str) -> str:
        made = await tenant.call("POST", "/v1/broadcasts", {"channel": "sms", "body": text})
        assert made.status_code == 202, made.text
        return str(made.json()["id"])

    def figures(b: dict[str, Any]) -> tuple[Any, ...]:
        return b["status"], b["audience"], b["total"], b["queued"], b["sent"], b["failed"], b["cancelled"]

    first = await broadcast("first")
    assert await patient_worker.open_broadcasts() == 1
    stopped = await tenant.call("POST", f"/v1/broadcasts/{first}/cancel")
    assert stopped.status_code == 200, stopped.text
    assert figures(stopped.json()) == ("cancelled", 7, 0, 0, 0, 0, 0)
    assert stopped.json()["cancelled_at"] is not None
    await patient_worker.drain()  # nothing more is sent
    assert provider.requests == []
    again = await tenant.call("POST", f"/v1/broadcasts/{first}/cancel")
    assert again.status_code == 200 and again.json() == stopped.json()

    second = await broadcast("second")
    assert await patient_worker.open_broadcasts() == 1
    while len(provider.requests) < 3:
        assert await patient_worker.send_messages() > 0
    sent = len(provider.requests)
    stopped = await tenant.call("POST", f"/v1/broadcasts/{second}/cancel")
    assert figures(stopped.json()) == ("cancelled", 7, sent, 0, sent, 0, 0)
    await patient_worker.drain()
    assert [r["text"] for r in provider.requests] == ["second"] * sent

    third = await broadcast("third")
    await patient_worker.drain()
    assert len(provider.requests) == sent + 7
    assert_error(await tenant.call("POST", f"/v1/broadcasts/{third}/cancel"), 409, "broadcast_done")
    assert (await tenant.call("GET", f"/v1/broadcasts/{third}")).json()["status"] == "done"
    assert_error(
        await other_tenant.call("POST", f"/v1/broadcasts/{first}/cancel"), 404, "broadcast_not_found"
    )
    assert_error(await tenant.call("POST", "/v1/broadcasts/nope/cancel"), 404, "broadcast_not_found")


async def test_a_broadcast_can_be_scheduled(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    await shop(tenant, clock)  # 2026-03-10 12:00 in Moscow
    await sms_channel(tenant, provider)
    await new_member(tenant, name="Anna")
    later = {"channel": "sms", "body": "tomorrow", "send_at": "2026-03-11T10:00:00+03:00"}
    made = await tenant.call("POST", "/v1/broadcasts", later)
    assert made.status_code == 202, made.text
    assert (made.json()["status"], made.json()["send_at"]) == ("scheduled", "2026-03-11T07:00:00Z")
    await worker.drain()
    assert provider.requests == []
    assert (await tenant.call("GET", f"/v1/broadcasts/{made.json()['id']}")).json()["total"] == 0

    clock.fixed = moscow("2026-03-11T10:00:00")
    assert (await tenant.call("GET", f"/v1/broadcasts/{made.json()['id']}")).json()["status"] == "preparing"
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["tomorrow"]

    past = await tenant.call(
        "POST", "/v1/broadcasts", {**later, "body": "now", "send_at": "2026-03-01T10:00:00Z"}
    )
    assert (past.json()["status"], past.json()["send_at"]) == ("preparing", None)  # past: at once
    await worker.drain()
    assert [r["text"] for r in provider.requests] == ["tomorrow", "now"]

    clock.fixed = moscow("2026-03-11T10:05:00")  # a later creation time: the list's order is certain
    cancelled = (
        await tenant.call("POST", "/v1/broadcasts", {**later, "send_at": "2026-04-01T10:00:00Z"})
    ).json()
    stopped = await tenant.call("POST", f"/v1/broadcasts/{cancelled['id']}/cancel")
    assert stopped.json()["status"] == "cancelled"
    clock.fixed = moscow("2026-04-02T12:00:00")
    await worker.drain()
    assert len(provider.requests) == 2
    naive = await tenant.call("POST", "/v1/broadcasts", {**later, "send_at": "2026-04-03T10:00:00"})
    assert_error(naive, 422)

    listed = await tenant.call("GET", "/v1/broadcasts", params={"limit": 2})
    assert [b["status"] for b in listed.json()] == ["cancelled", "done"]  # newest first
    assert listed.json()[0] == stopped.json()
    rest = await tenant.call(
        "GET", "/v1/broadcasts", params={"limit": 2, "before": listed.headers["X-Next-Before"]}
    )
    assert [b["id"] for b in rest.json()] == [made.json()["id"]] and "X-Next-Before" not in rest.headers
    assert_error(await tenant.call("GET", "/v1/broadcasts", params={"before": "yesterday"}), 422)


async def test_the_message_log_filters_by_trigger_and_names_an_unknown_one(
    tenant: Tenant, clock: ManualClock, worker: Worker, provider: SmsProvider
) -> None:
    """``?trigger=`` was no parameter: ignored, it answered every message as if it had filtered."""
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    await template(tenant, "welcome", "hello")
    member = await new_member(tenant)
    assert (
        await tenant.call("POST", "/v1/broadcasts", {"channel": "sms", "body": "news"})
    ).status_code == 202
    await worker.drain()
    for trigger, bodies in (("welcome", ["hello"]), ("broadcast", ["news"]), ("birthday", [])):
        listed = await tenant.call("GET", "/v1/messages", params={"member": member, "trigger": trigger})
        assert [m["body"] for m in listed.json()] == bodies, trigger
    error = assert_error(await tenant.call("GET", "/v1/messages", params={"trigger": "birthdays"}), 422)
    assert error["field"] == "trigger"
    for known in ("receipt", "points_expiring", "birthday", "tier_changed", "welcome", "broadcast"):
        assert known in error["message"]


async def test_a_page_cursor_passed_back_unencoded_is_the_next_page(
    tenant: Tenant, clock: ManualClock, provider: SmsProvider
) -> None:
    """The cursor held created_at's "+00:00": pasted into ?before= it arrived with a space, and
    the 422 asked for a `next` that broadcasts do not have."""
    await shop(tenant, clock)
    await sms_channel(tenant, provider)
    made = []
    for text in ("one", "two", "three"):
        clock.fixed += timedelta(seconds=1)
        made.append((await tenant.call("POST", "/v1/broadcasts", {"channel": "sms", "body": text})).json())
    listed = await tenant.call("GET", "/v1/broadcasts", params={"limit": 2})
    cursor = listed.headers["X-Next-Before"]
    assert "+" not in cursor and " " not in cursor
    rest = await tenant.call("GET", f"/v1/broadcasts?limit=2&before={cursor}")  # as it came
    assert [b["id"] for b in rest.json()] == [made[0]["id"]]
    # a cursor of the form before, its "+" unencoded too
    second = datetime.fromisoformat(made[1]["created_at"]).isoformat()
    old = await tenant.call("GET", f"/v1/broadcasts?limit=2&before={second}|{made[1]['id']}")
    assert "+00:00" in second and [b["id"] for b in old.json()] == [made[0]["id"]]
    error = assert_error(await tenant.call("GET", "/v1/messages", params={"before": "yesterday"}), 422)
    assert error["field"] == "before" and "X-Next-Before" in str(error["message"])


# --- webhooks --------------------------------------------------------------------------------


async def test_webhooks_are_signed_retried_and_in_order_per_member(
    tenant: Tenant, db: Database, clock: ManualClock, worker: Worker
) -> None:
    await shop(tenant, clock)
    receiver = Receiver(secret="s3cret")
    await receiver.start()
    try:
        body = {
            "url": receiver.url,
            "events": ["member.created", "points.adjusted", "receipt.confirmed"],
            "secret": "s3cret",
        }
        created = await tenant.call("POST", "/v1/webhooks", body)
        assert created.status_code == 201 and "secret" not in created.json()
        hook = created.json()["id"]
        first = await new_member(tenant)
        second = await new_member(tenant)
        for member in (first, second, first):
            key = f"k-{member}-{len(receiver.events)}-{time.monotonic_ns()}"
            adjust = {"key": key, "points": 5, "reason": "r"}
            assert (await tenant.call("POST", f"/v1/members/{member}/adjustments", adjust)).status_code == 201
        await receipt(tenant, basket(("TEE", 1, "10.00"), member=first))
        events = await outbox_events(db, tenant)
        first_created = next(
            e["uid"] for e in events if e["type"] == "member.created" and e["member_id"] == first
        )
        receiver.refuse[first_created] = 2  # the first member's first event fails twice

        await worker.drain()
        by_member = {receiver.member_of(e) for e in receiver.events}
        assert first not in by_member and second in by_member  # the first member's events wait
        clock.fixed = clock() + timedelta(seconds=10)
        await worker.drain()
        assert first not in {receiver.member_of(e) for e in receiver.events}
        clock.fixed = clock() + timedelta(seconds=30)
        await worker.drain()

        assert receiver.bad_signatures == 0
        expected: dict[str, list[str]] = defaultdict(list)
        for event in events:
            expected[event["member_id"]].append(event["uid"])
        got: dict[str | None, list[str]] = defaultdict(list)
        for event in receiver.events:
            got[receiver.member_of(event)].append(event["id"])
        assert got[first] == expected[first] and got[second] == expected[second]
        delivered = receiver.events[-1]
        assert (
            set(delivered) == {"id", "type", "occurred_at", "tenant", "data"}
            and delivered["tenant"] == tenant.slug
        )

        log = (await tenant.call("GET", f"/v1/webhooks/{hook}/deliveries")).json()
        assert len(log) == len(events) and all(d["status"] == "delivered" for d in log)
        assert next(d for d in log if d["event_id"] == first_created)["attempts"] == 3
    finally:
        await receiver.stop()


async def test_deliveries_behind_a_failed_one_are_not_due_and_go_as_soon_as_it_is_delivered(
    tenant: Tenant, db: Database, clock: ManualClock, worker: Worker
) -> None:
    """A member's deliveries behind a pending one are not due (no ``next_attempt_at``): each claim
    read them all, to reject each one, while a receiver was down. The next becomes due the moment
    the one ahead is delivered, and they arrive in the order of their events."""
    await shop(tenant, clock)
    async with subscribed(tenant, ["member.created", "points.adjusted"]) as (receiver, hook):
        member = await new_member(tenant)
        for n in range(3):
            adjust = {"key": f"behind-{n}", "points": 5, "reason": "r"}
            assert (await tenant.call("POST", f"/v1/members/{member}/adjustments", adjust)).status_code == 201
        events = [e["uid"] for e in await outbox_events(db, tenant)]
        receiver.refuse[events[0]] = 1

        await worker.drain()
        assert receiver.events == [] and receiver.attempts[events[0]] == 1
        log = {d["event_id"]: d for d in (await tenant.call("GET", f"/v1/webhooks/{hook}/deliveries")).json()}
        assert log[events[0]]["next_attempt_at"] is not None and log[events[0]]["attempts"] == 1
        for later in events[1:]:
            assert (log[later]["status"], log[later]["attempts"], log[later]["next_attempt_at"]) == (
                "pending",
                0,
                None,
            )

        clock.fixed = clock() + timedelta(seconds=10)  # the retry of the first
        assert await worker.deliver_webhooks_and_wait() == 1
        assert [e["id"] for e in receiver.events] == events[:1]
        log = {d["event_id"]: d for d in (await tenant.call("GET", f"/v1/webhooks/{hook}/deliveries")).json()}
        assert datetime.fromisoformat(log[events[1]]["next_attempt_at"]) == clock()  # due at once
        assert log[events[2]]["next_attempt_at"] is None
        for sent in range(2, 5):  # each next one at once, the clock standing still
            assert await worker.deliver_webhooks_and_wait() == 1
            assert [e["id"] for e in receiver.events] == events[:sent]
        assert await worker.deliver_webhooks_and_wait() == 0


async def test_a_webhook_gets_only_events_that_occurred_after_it_was_created(
    tenant: Tenant, clock: ManualClock, worker: Worker
) -> None:
    """Deliveries are fanned out when the worker handles an event: a webhook created while the
    worker was behind (or stopped) got the events of the minutes before it existed."""
    await shop(tenant, clock)
    await new_member(tenant, name="Before")
    async with subscribed(tenant, ["member.created"]) as (receiver, _hook):
        after = await new_member(tenant, name="After")
        await worker.drain()
        assert [receiver.member_of(e) for e in receiver.events] == [after]


async def test_a_webhook_redirect_is_not_a_delivery_and_a_long_answer_is_not_read(
    tenant: Tenant, clock: ManualClock, worker: Worker
) -> None:
    """A 302 was followed with a GET to a page answering 200, and the event, never received, was
    logged as delivered; a receiver answering gigabytes was read into the worker's memory."""
    await shop(tenant, clock)
    receiver = Receiver(secret="s3cret", redirect=True)
    await receiver.start()
    try:
        body = {"url": receiver.url, "events": ["member.created"], "secret": "s3cret"}
        hook = (await tenant.call("POST", "/v1/webhooks", body)).json()["id"]
        await new_member(tenant)
        await worker.drain()
        (delivery,) = (await tenant.call("GET", f"/v1/webhooks/{hook}/deliveries")).json()
        assert (delivery["status"], delivery["last_status"], delivery["last_error"]) == (
            "pending",
            302,
            "HTTP 302",
        )
        assert delivery["next_attempt_at"] is not None and receiver.events == []

        receiver.redirect, receiver.padding = False, 5_000_000
        clock.fixed = clock() + timedelta(seconds=10)
        await worker.drain()
        (delivery,) = (await tenant.call("GET", f"/v1/webhooks/{hook}/deliveries")).json()
        assert (delivery["status"], delivery["last_status"], delivery["attempts"]) == ("delivered", 200, 2)
        assert delivery["next_attempt_at"] is None  # nothing more will be tried
        assert len(receiver.events) == 1
        # a 200 whose body trickles in is a delivery: the status decides (it was "no answer")
        receiver.padding, receiver.trickle = 0, 3.0
        worker.deliverer.timeout = aiohttp.ClientTimeout(total=2)  # the body takes longer than that
        await new_member(tenant)
        await worker.drain()
        latest = (await tenant.call("GET", f"/v1/webhooks/{hook}/deliveries")).json()[0]
        assert (latest["status"], latest["attempts"], latest["last_status"]) == ("delivered", 1, 200)
    finally:
        await receiver.stop()


async def test_a_slow_receiver_holds_back_only_its_own_deliveries(
    tenant: Tenant, db: Database, clock: ManualClock, worker: Worker
) -> None:
    """A batch waited for its slowest delivery, so one receiver taking its time held every other
    webhook (of every tenant) to a trickle; and deleting its webhook waited for the delivery's lock."""
    await shop(tenant, clock)
    async with (
        subscribed(tenant, ["member.created"]) as (slow, slow_hook),
        subscribed(tenant, ["member.created"]) as (fast, _),
    ):
        slow.delay = 2.0
        for _ in range(20):
            await new_member(tenant)
        await worker.handle_events()
        started = time.monotonic()
        while len(fast.events) < 20 and time.monotonic() - started < 1.5:
            await worker.deliver_webhooks()
            await asyncio.sleep(0.02)
        assert len(fast.events) == 20 and slow.events == []
        assert sum(slow.attempts.values()) == worker.deliverer.per_webhook  # at most 8 at once

        started = time.monotonic()
        assert (await tenant.call("DELETE", f"/v1/webhooks/{slow_hook}")).status_code == 204
        assert time.monotonic() - started < 1.0  # no lock held while a receiver takes its time
        await worker.deliverer.settle()  # the answers that came after the delete change nothing
        async with db.read() as conn:
            rows = await (
                await conn.execute(
                    "SELECT status, last_error, count(*) AS n FROM webhook_deliveries"
                    " WHERE tenant_id = %s AND webhook_id = %s GROUP BY 1, 2",
                    (tenant.tenant_id, slow_hook),
                )
            ).fetchall()
        assert [(r["status"], r["last_error"], r["n"]) for r in rows] == [
            ("failed", "the webhook was deleted", 20)
        ]


async def test_a_programs_dead_receivers_hold_back_only_its_own_deliveries(
    tenant: Tenant, other_tenant: Tenant, worker_db: Database, clock: ManualClock
) -> None:
    """Eight dead webhooks of a few programs took every place of a worker: the other programs'
    healthy webhooks waited 10 to 30 seconds. A program has at most 16 places."""
    await shop(tenant, clock)
    await shop(other_tenant, clock)
    settings = WorkerSettings(keep_days=0)
    async with (
        Worker(
            worker_db, clock=clock, settings=settings, tenants=[tenant.tenant_id, other_tenant.tenant_id]
        ) as both,
        subscribed(tenant, ["member.created"]) as (first, _),
        subscribed(tenant, ["member.created"]) as (second, _),
        subscribed(tenant, ["member.created"]) as (third, _),
        subscribed(other_tenant, ["member.created"]) as (healthy, _),
    ):
        for dead in (first, second, third):
            dead.delay = 2.0
        for _ in range(10):
            await new_member(tenant)
            await new_member(other_tenant)
        await both.handle_events()
        await both.handle_events()
        started = time.monotonic()
        while len(healthy.events) < 10 and time.monotonic() - started < 1.5:
            await both.deliver_webhooks()
            await asyncio.sleep(0.02)
        assert len(healthy.events) == 10
        in_flight = sum(sum(dead.attempts.values()) for dead in (first, second, third))
        assert in_flight == both.deliverer.per_tenant == 16
        await both.deliverer.settle()


async def test_a_webhook_gives_up_after_a_day_and_the_next_event_goes(
    tenant: Tenant, db: Database, clock: ManualClock, worker: Worker
) -> None:
    await shop(tenant, clock)
    async with subscribed(tenant, ["member.created", "points.adjusted"]) as (receiver, hook):
        member = await new_member(tenant)
        adjust = {"key": "x", "points": 5, "reason": "r"}
        assert (await tenant.call("POST", f"/v1/members/{member}/adjustments", adjust)).status_code == 201
        created, adjusted = (e["uid"] for e in await outbox_events(db, tenant))
        receiver.refuse[created] = -1  # never accepted
        start = clock()
        while clock() - start < timedelta(hours=26) and adjusted not in [e["id"] for e in receiver.events]:
            await worker.drain()
            clock.fixed = clock() + timedelta(minutes=30)
        assert receiver.attempts[created] >= 10 and [e["id"] for e in receiver.events] == [adjusted]
        log = (await tenant.call("GET", f"/v1/webhooks/{hook}/deliveries")).json()
        gave_up = next(d for d in log if d["event_id"] == created)
        assert gave_up["status"] == "failed" and gave_up["last_status"] == 500
        assert gave_up["next_attempt_at"] is None  # nothing more will be tried
        async with db.read() as conn:  # the row keeps the moment of the try that gave up
            row = await (
                await conn.execute(
                    "SELECT next_attempt_at FROM webhook_deliveries WHERE tenant_id = %s AND id = %s",
                    (tenant.tenant_id, gave_up["id"]),
                )
            ).fetchone()
        assert row is not None and timedelta(hours=24) <= row["next_attempt_at"] - start < timedelta(hours=27)


async def test_handled_events_and_finished_deliveries_are_deleted_after_keep_days(
    tenant: Tenant, db: Database, clock: ManualClock, worker: Worker
) -> None:
    await shop(tenant, clock)
    async with subscribed(tenant, ["member.created", "points.adjusted"]) as (receiver, hook):
        kept = await new_member(tenant)  # its event's delivery is refused: pending when pruned
        gone = await new_member(tenant)
        adjust = {"key": "gift", "points": 5, "reason": "r"}
        assert (await tenant.call("POST", f"/v1/members/{gone}/adjustments", adjust)).status_code == 201
        await receipt(tenant, basket(("TEE", 1, "10.00"), member=gone))  # no webhook for it
        refused = next(e["uid"] for e in await outbox_events(db, tenant) if e["member_id"] == kept)
        receiver.refuse[refused] = -1
        await worker.drain()
        later = await new_member(tenant)  # an event nobody handled yet
        before = {e["uid"]: e for e in await outbox_events(db, tenant)}
        assert len(before) == 5 and [e["processed_at"] is None for e in before.values()].count(True) == 1
        assert sorted(d["status"] for d in await deliveries_of(db, tenant)) == [
            "delivered",
            "delivered",
            "pending",
        ]

        start = clock()
        pruning = Worker(
            worker.db, clock=clock, settings=WorkerSettings(keep_days=30), tenants=[tenant.tenant_id]
        )
        assert (await pruning.run_schedule(start + timedelta(days=29)))["pruned"] == 0  # kept 30 days
        assert len(await outbox_events(db, tenant)) == 5
        assert (await worker.run_schedule(start + timedelta(days=400)))["pruned"] == 0  # keep_days=0
        pruned = (await pruning.run_schedule(start + timedelta(days=31)))["pruned"]

        left = await outbox_events(db, tenant)
        assert {e["member_id"] for e in left} == {kept, later}  # the pending delivery's and the unhandled
        assert [(d["event"], d["status"]) for d in await deliveries_of(db, tenant)] == [(refused, "pending")]
        assert pruned == 2 + 3  # two deliveries, then the three events no delivery names
        log = (await tenant.call("GET", f"/v1/webhooks/{hook}/deliveries")).json()
        assert [(d["event_id"], d["status"]) for d in log] == [(refused, "pending")]

        # the webhook deleted: its pending delivery fails at once, and goes with the next pruning
        assert (await tenant.call("DELETE", f"/v1/webhooks/{hook}")).status_code == 204
        assert [(d["event"], d["status"]) for d in await deliveries_of(db, tenant)] == [(refused, "failed")]
        assert (await pruning.run_schedule(start + timedelta(days=31)))["pruned"] == 1 + 1
        assert await deliveries_of(db, tenant) == []
        assert {e["member_id"] for e in await outbox_events(db, tenant)} == {later}


# --- the API ---------------------------------------------------------------------------------


async def test_api_validation_roles_and_tenancy(tenant: Tenant, other_tenant: Tenant) -> None:
    response = await tenant.call("PUT", "/v1/channels/sms", {"url": "ftp://x", "rate_per_second": 5})
    assert_error(response, 422)
    response = await tenant.call(
        "PUT", "/v1/channels/sms", {"url": "http://sms.test/send", "rate_per_second": 0}
    )
    assert_error(response, 422)
    secret_header = {
        "url": "http://sms.test/send",
        "rate_per_second": 5,
        "headers": {"Authorization": "Bearer t"},
    }
    response = await tenant.call("PUT", "/v1/channels/sms", secret_header)
    assert response.status_code == 200 and response.json()["headers"] == {"Authorization": "***"}
    assert_error(await other_tenant.call("GET", "/v1/channels/sms"), 404, "channel_not_found")

    assert_error(await tenant.call("PUT", "/v1/templates/nope", {"channel": "sms", "body": "x"}), 404)
    bad = await tenant.call("PUT", "/v1/templates/receipt", {"channel": "sms", "body": "{{ points_earned"})
    assert_error(bad, 422, "invalid_template")
    unknown = await tenant.call(
        "PUT", "/v1/templates/welcome", {"channel": "sms", "body": "{{ points_earned }}"}
    )
    assert_error(unknown, 422, "invalid_template")
    locale = await tenant.call(
        "PUT", "/v1/templates/welcome", {"channel": "sms", "body": "x", "locale": "zz_ZZ"}
    )
    assert_error(locale, 422, "invalid_locale")
    ok = await tenant.call(
        "PUT", "/v1/templates/welcome", {"channel": "sms", "body": "hi", "locale": "ru-RU"}
    )
    assert ok.status_code == 200 and ok.json()["locale"] == "ru_RU"
    assert len((await tenant.call("GET", "/v1/templates")).json()) == 1
    gone = await tenant.call("DELETE", "/v1/templates/welcome", params={"channel": "sms", "locale": "ru_RU"})
    assert gone.status_code == 204 and (await tenant.call("GET", "/v1/templates")).json() == []

    assert_error(await tenant.call("POST", "/v1/broadcasts", {"channel": "fax", "body": "x"}), 422)
    assert_error(
        await tenant.call(
            "POST", "/v1/broadcasts", {"channel": "sms", "body": "x", "filter": {"tier": "gold"}}
        ),
        422,
    )
    for after, before in (
        ("2026-12-10", "2026-12-01"),
        ("2026-12-01T10:00:00Z", "2026-12-01T12:00:00+03:00"),
    ):
        window = {"last_purchase_after": after, "last_purchase_before": before}  # selects no one
        assert_error(
            await tenant.call("POST", "/v1/broadcasts", {"channel": "sms", "body": "x", "filter": window}),
            422,
        )
    made = (await tenant.call("POST", "/v1/broadcasts", {"channel": "sms", "body": "x"})).json()
    assert_error(await other_tenant.call("GET", f"/v1/broadcasts/{made['id']}"), 404)
    assert_error(await tenant.call("GET", "/v1/broadcasts/not-an-id"), 404)

    hook = {"url": "http://hooks.test/x", "events": ["receipt.confirmed"], "secret": "s"}
    assert_error(await tenant.call("POST", "/v1/webhooks", {**hook, "events": ["receipt.eaten"]}), 422)
    assert_error(await tenant.call("POST", "/v1/webhooks", {**hook, "events": []}), 422)
    created = (await tenant.call("POST", "/v1/webhooks", hook)).json()
    assert (await tenant.call("GET", f"/v1/webhooks/{created['id']}")).json()["events"] == [
        "receipt.confirmed"
    ]
    assert_error(await other_tenant.call("GET", f"/v1/webhooks/{created['id']}"), 404)
    assert_error(await other_tenant.call("DELETE", f"/v1/webhooks/{created['id']}"), 404)
    assert (await tenant.call("DELETE", f"/v1/webhooks/{created['id']}")).status_code == 204
    assert_error(await tenant.call("GET", f"/v1/webhooks/{created['id']}"), 404)
    assert_error(
        await tenant.call("GET", "/v1/messages", params={"member": "4b0e9a7c-0000-4000-8000-000000000000"}),
        404,
    )

    pos = (await tenant.call("POST", "/v1/api-keys", {"role": "pos", "name": "till"})).json()["api_key"]
    for method, path in (("GET", "/v1/messages"), ("POST", "/v1/webhooks"), ("PUT", "/v1/channels/sms")):
        assert_error(await tenant.call(method, path, hook, key=pos), 403)


async def test_secrets_in_channel_and_webhook_urls_are_masked_and_stored_as_given(
    tenant: Tenant, db: Database
) -> None:
    """A provider's key in its URL was shown word for word while header values read ***."""
    url = "https://apiuser:S3cretPass@sms.example.com/send?to=x&api_key=TOPSECRET"
    shown = "https://apiuser:***@sms.example.com/send?to=x&api_key=***"
    put = await tenant.call("PUT", "/v1/channels/sms", {"url": url, "rate_per_second": 5})
    assert put.status_code == 200 and put.json()["url"] == shown
    assert (await tenant.call("GET", "/v1/channels/sms")).json()["url"] == shown
    hook = {"url": "http://user:pw@hooks.test/a?sig=abc", "events": ["member.created"], "secret": "s"}
    created = await tenant.call("POST", "/v1/webhooks", hook)
    assert created.status_code == 201 and created.json()["url"] == "http://user:***@hooks.test/a?sig=***"
    listed = (await tenant.call("GET", "/v1/webhooks")).json()
    assert [h["url"] for h in listed] == ["http://user:***@hooks.test/a?sig=***"]
    one = (await tenant.call("GET", f"/v1/webhooks/{created.json()['id']}")).json()
    assert one["url"] == "http://user:***@hooks.test/a?sig=***"
    async with db.read() as conn:  # what is sent to is what was given
        assert (await store.get_channel(conn, tenant.tenant_id, "sms"))["settings"]["url"] == url  # type: ignore[index]
        assert (await webhook_store.get(conn, tenant.tenant_id, one["id"]))["url"] == hook["url"]  # type: ignore[index]


def test_busiest_second_counts_a_sliding_window() -> None:
    provider = SmsProvider()
    provider.times = [0.0, 0.5, 0.99, 1.0, 1.2, 1.98, 2.5]
    assert provider.busiest_second() == 4  # 0.99, 1.0, 1.2 and 1.98


async def test_a_recipient_refused_for_now_is_tried_again_and_one_refused_for_good_is_not(
    smtp: tuple[Inbox, int],
) -> None:
    """SMTP's rule: 4xx is for now (greylisting, a full mailbox), 5xx for good. A greylisted
    address never got its mail: every refused recipient failed at once."""
    inbox, port = smtp
    inbox.refuse = {"grey@example.com": "451 4.7.1 try later", "gone@example.com": "550 5.1.1 no such user"}
    settings = {"host": "127.0.0.1", "port": port, "from": "loyalty@shop.example"}
    transport = EmailTransport()
    grey = await transport.send(settings, "m1", "grey@example.com", "Hi", "text")
    gone = await transport.send(settings, "m2", "gone@example.com", "Hi", "text")
    assert (grey.ok, grey.permanent, grey.status) == (False, False, 451)
    assert (gone.ok, gone.permanent, gone.status) == (False, True, 550)
    inbox.refuse = {}
    named = {**settings, "from": "Shop Club <loyalty@shop.example>"}  # a sender with a name
    assert (await transport.send(named, "m1", "grey@example.com", "Hi", "text")).ok
    assert [envelope.rcpt_tos for envelope in inbox.envelopes] == [["grey@example.com"]]
    assert inbox.envelopes[0].mail_from == "loyalty@shop.example"
    assert EmailChannelIn.model_validate(
        {"host": "h", "port": 25, "from": "Shop Club <loyalty@shop.example>"}
    )
    for fine in ('"Cl\\"ub" <a@b.c>', "<a@b.c>", '"Club, Inc." <a@b.c>', "Кафе <a@b.c>"):
        assert EmailChannelIn.model_validate({"host": "h", "port": 25, "from": fine})
    for wrong in (
        "Shop Club <nowhere>",
        "a@b.c, d@e.f",
        "Club <a@b.c> trailing",
        "Club <a@b.c",
        "Club a@b.c",
        "Club [Berlin] <a@b.c>",  # the mail parser reads it otherwise: it was sent from <Club>
        '"Club\\" <a@b.c>',
        "Club\u2028 <a@b.c>",  # breaks the header line: no message could be sent
    ):
        with pytest.raises(ValueError, match="an email address"):  # one mailbox, nothing else
            EmailChannelIn.model_validate({"host": "h", "port": 25, "from": wrong})


async def test_a_stop_cancels_a_step_that_does_not_finish_within_the_grace(worker_db: Database) -> None:
    """A step waiting for a database that is gone would hold the stop for the pool's whole
    timeout; a step that finishes within the grace is let finish."""
    finished: list[str] = []
    settings = WorkerSettings(poll=0.01, schedule_every=3600, stop_grace=0.3)
    async with Worker(worker_db, settings=settings, tenants=[]) as worker:

        async def stuck() -> int:
            await asyncio.Event().wait()  # never set: a connection that never comes
            finished.append("stuck")
            return 0

        async def slow() -> int:
            await asyncio.sleep(0.1)
            finished.append("slow")
            return 0

        worker.handle_events = stuck  # type: ignore[method-assign]
        worker.deliver_webhooks = slow  # type: ignore[method-assign]
        stop = asyncio.Event()
        running = asyncio.ensure_future(worker.run(stop))
        await asyncio.sleep(0.05)  # both steps are under way
        finished.clear()
        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(running, timeout=5)
        took = time.monotonic() - started
    assert finished == ["slow"]
    assert 0.3 <= took < 2
