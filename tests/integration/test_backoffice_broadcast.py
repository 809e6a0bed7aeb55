"""A 10,000-message broadcast sent by two real ``patron worker`` processes, one killed with
SIGKILL half-way, through a real local SMS provider that answers 429 and 500 at random.

It must end with every message accepted exactly once by id (the provider drops a repeated id, as
contract 9 lets it: retries reuse the id), never more than the configured rate in any one-second
window of the provider's own clock, and every message logged as ``sent``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from patron.backoffice.sender import SendSettings
from patron.backoffice.worker import WorkerSettings
from patron.db.pool import Database
from tests.integration.conftest import Tenant
from tests.integration.local_servers import SmsProvider, ThreadedProvider
from tests.integration.test_cli import PATRON, base_env

MESSAGES = 10_000
RATE = 2000  # per second: high, so that the test takes seconds


def start_worker(database_url: str, slug: str, log: Path) -> subprocess.Popen[bytes]:
    env = base_env(PATRON_DATABASE_URL=database_url)
    # --nice 0 --no-idle: on a machine shared with other work the test should not wait for spare CPU
    args = [
        *(str(PATRON), "worker", "--tenant", slug, "--poll", "0.05", "--retry-base", "0.2"),
        *("--nice", "0", "--no-idle"),
    ]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*args, "--schedule-every", "3600"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def add_members(db: Database, tenant_id: int, count: int) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO members (tenant_id, phone, name, consents)"
            " SELECT %s, '+7902' || lpad(i::text, 7, '0'), 'Member ' || i, '{\"sms\": true, \"email\": false}'"
            " FROM generate_series(1, %s) AS i",
            (tenant_id, count),
        )


def daytime_zone() -> str:
    """A time zone where it is about 14:00 now: messages never go out in quiet hours (21:00-09:00)."""
    offset = (14 - datetime.now(UTC).hour + 12) % 24 - 12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


async def progress(db: Database, tenant_id: int, broadcast_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        cur = await conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'sent') AS sent, count(*) AS total,"
            " array_agg(id::text) FILTER (WHERE status = 'sent') AS ids"
            " FROM messages WHERE tenant_id = %s AND broadcast_id = %s",
            (tenant_id, broadcast_id),
        )
        row = await cur.fetchone()
    assert row is not None
    return row


@contextlib.asynccontextmanager
async def sending(
    tenant: Tenant, db: Database, database_url: str, logs: Path, *, members: int, rate: int, seed: int
) -> AsyncIterator[tuple[SmsProvider, list[subprocess.Popen[bytes]]]]:
    """A program at daytime with ``members`` members who consented to SMS, a provider that answers
    429 and 500 at random behind the SMS channel at ``rate``, and two real ``patron worker``
    processes; whichever of them is still running at the end is killed."""
    zone = daytime_zone()
    assert 10 <= datetime.now(ZoneInfo(zone)).hour <= 18
    assert (await tenant.call("PATCH", "/v1/program", {"timezone": zone})).status_code == 200
    await add_members(db, tenant.tenant_id, members)
    # "Retry-After: 0": the provider throttles a message now and then, not the channel (a wait
    # would hold the whole channel: test_retries_honour_retry_after_and_reuse_the_message_id)
    provider = SmsProvider(throttle=0.05, fail=0.05, retry_after="0", seed=seed)
    workers: list[subprocess.Popen[bytes]] = []
    with ThreadedProvider(provider):
        channel = {"url": provider.url, "rate_per_second": rate}
        assert (await tenant.call("PUT", "/v1/channels/sms", channel)).status_code == 200
        try:
            workers = [start_worker(database_url, tenant.slug, logs / f"worker-{i}.log") for i in range(2)]
            yield provider, workers
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait(10)


async def test_a_broadcast_survives_a_killed_worker_at_the_providers_rate(
    tenant: Tenant, db: Database, database_url: str, tmp_path: Path
) -> None:
    async with sending(tenant, db, database_url, tmp_path, members=MESSAGES, rate=RATE, seed=11) as (
        provider,
        workers,
    ):
        response = await tenant.call(
            "POST", "/v1/broadcasts", {"channel": "sms", "body": "{{ member.name }}: -20%"}
        )
        assert response.status_code == 202
        broadcast = response.json()["id"]

        started = time.monotonic()
        while len(provider.accepted) < MESSAGES * 0.3:
            assert time.monotonic() - started < 60, "the workers did not get going"
            assert all(w.poll() is None for w in workers), "a worker died on its own"
            await asyncio.sleep(0.02)
        workers[0].send_signal(signal.SIGKILL)
        killed_at = len(provider.accepted)
        assert workers[0].wait(10) == -signal.SIGKILL

        while (await progress(db, tenant.tenant_id, broadcast))["sent"] < MESSAGES:
            assert time.monotonic() - started < 90, "the broadcast did not finish"
            assert workers[1].poll() is None, (tmp_path / "worker-1.log").read_text()
            await asyncio.sleep(0.25)
        elapsed = time.monotonic() - started
        workers[1].send_signal(signal.SIGTERM)
        assert workers[1].wait(20) == 0, "SIGTERM stops a worker cleanly"

    done = await progress(db, tenant.tenant_id, broadcast)
    assert done["total"] == MESSAGES and done["sent"] == MESSAGES  # the log says sent for each
    assert set(provider.accepted) == set(done["ids"])  # each message accepted, under its own id, once
    assert len({body["to"] for body in provider.accepted.values()}) == MESSAGES
    busiest = provider.busiest_second()
    assert busiest <= RATE, f"{busiest} requests in one second"
    answered = len(provider.requests)
    assert answered > MESSAGES * 1.05  # 429s and 500s were retried
    # what the killed worker had in flight (at most one batch per sender) may come again, and the
    # provider drops those repeats by id
    in_flight = SendSettings().most * WorkerSettings().senders
    assert provider.duplicates <= in_flight
    summary = (await tenant.call("GET", f"/v1/broadcasts/{broadcast}")).json()
    assert (summary["status"], summary["sent"], summary["queued"], summary["failed"]) == (
        "done",
        MESSAGES,
        0,
        0,
    )
    print(
        f"\nbroadcast of {MESSAGES}: {elapsed:.1f} s with one worker killed after {killed_at} accepted;"
        f" {answered} requests, {provider.duplicates} repeats dropped, busiest second {busiest}/{RATE}"
    )


async def test_a_broadcast_stopped_mid_send_sends_nothing_once_the_stop_is_answered(
    tenant: Tenant, db: Database, database_url: str, tmp_path: Path
) -> None:
    """Two real workers send a broadcast through a provider that answers 429 and 500 at random;
    the cancel waits for the batches in flight, so after its answer no request reaches the
    provider, not even the retries already scheduled. Messages not yet prepared never are."""
    members = 6000
    async with sending(tenant, db, database_url, tmp_path, members=members, rate=500, seed=12) as (
        provider,
        workers,
    ):
        made = await tenant.call("POST", "/v1/broadcasts", {"channel": "sms", "body": "{{ member.name }}"})
        broadcast = made.json()["id"]
        started = time.monotonic()
        while len(provider.accepted) < 300:
            assert time.monotonic() - started < 60, "the workers did not get going"
            await asyncio.sleep(0.02)
        stopped = await tenant.call("POST", f"/v1/broadcasts/{broadcast}/cancel")
        assert stopped.status_code == 200, stopped.text
        at_answer = len(provider.requests)
        await asyncio.sleep(2.5)  # longer than Retry-After: a retry still queued would show
        assert len(provider.requests) == at_answer
        assert all(w.poll() is None for w in workers)

    done = await progress(db, tenant.tenant_id, broadcast)
    summary = (await tenant.call("GET", f"/v1/broadcasts/{broadcast}")).json()
    assert summary["status"] == "cancelled" and summary["queued"] == 0
    assert set(provider.accepted) == set(done["ids"])  # what the log says was sent, and only that
    assert summary["sent"] == len(provider.accepted) and summary["cancelled"] > 0
    assert summary["sent"] + summary["failed"] == summary["total"]
    assert summary["audience"] == members and summary["total"] < members  # the rest never prepared
