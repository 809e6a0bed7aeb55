"""``patron worker``: the back-office process. Any number may run, against one database.

It runs these loops side by side, each taking its work with FOR UPDATE SKIP LOCKED so that
workers share it without talking to each other, and each committing its work together with the
mark that it is done, so that a worker killed at any moment loses nothing:

- outbox: handles events in order per member (webhook deliveries, messages, tiers);
- broadcasts: opens broadcasts whose time has come (the senders send them a page at a time);
- channels: keeps a pacer running for each channel with messages due or a broadcast being sent
  (``senders`` of them a channel), each sending batch after batch at the pace of the channel's
  shared token bucket, at most ``senders`` batches of the process at once;
- webhooks: delivers events, retried for 24 hours, in order per member;
- schedule: birthday gifts, expiring-points notices, tiers when purchases leave the window.

Each loop step is a method that tests call directly with a clock they move."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType

import aiohttp
import psycopg

from patron.backoffice import broadcasts, handlers, outbox, schedule, store
from patron.backoffice.provider_client import ProviderClient
from patron.backoffice.sender import Sender, SendSettings
from patron.backoffice.tenancy import Tenants
from patron.backoffice.transports import EmailTransport, SmsTransport
from patron.backoffice.webhooks import Deliverer
from patron.clock import Clock, utcnow
from patron.db.pool import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    poll: float = 0.5  # seconds a loop sleeps when it found nothing to do
    schedule_every: float = 60.0  # seconds between runs of the scheduled jobs
    expiry_every: float = 3600.0  # ... but expiring points are looked for at most this often (0: every run)
    stranded_every: float = 600.0  # ... and stranded webhook deliveries at most this often (0: every run)
    outbox_batch: int = 20  # events per transaction (each may hold a member's lock until commit)
    outbox_max_attempts: int = 10  # a handler that failed this often: the event is set aside
    senders: int = 2  # send batches of this process at once (and pacers a channel)
    keep_days: int = 30  # days until old events, deliveries and notices go (schedule.prune; 0: never)
    stop_grace: float = 10.0  # seconds a step may take to finish once asked to stop, then it is cancelled
    send: SendSettings = field(default_factory=SendSettings)


def look_due(last: datetime | None, every: float, moment: datetime) -> bool:
    """Whether a scheduled look run at most every ``every`` seconds (0: on every run), last at
    ``last``, is due at ``moment`` (a clock moved back makes it due)."""
    return not (every and last is not None and timedelta(0) <= moment - last < timedelta(seconds=every))


class Worker:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = utcnow,
        settings: WorkerSettings | None = None,
        tenants: list[int] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings or WorkerSettings()
        self.tenants = Tenants(tenants)
        self._session: aiohttp.ClientSession | None = None
        self._provider_client = ProviderClient()
        self._sender: Sender | None = None
        self._deliverer: Deliverer | None = None
        self._channel_turn = 0
        self._expiry_looked_at: datetime | None = None
        self._stranded_looked_at: datetime | None = None
        # the pacers: each channel's latest settings, its running pacers, and the batches' gate
        self._channels: dict[tuple[int, str], dict[str, object]] = {}
        self._pacers: dict[tuple[int, str, int], asyncio.Task[None]] = {}
        self._gate: asyncio.Semaphore | None = None
        self._stopping = False

    async def __aenter__(self) -> Worker:
        in_flight = self.settings.send.in_flight
        connector = aiohttp.TCPConnector(limit=2 * in_flight, limit_per_host=in_flight, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(connector=connector)  # for webhooks
        self._sender = Sender(
            self.db,
            self.clock,
            SmsTransport(self._provider_client),
            EmailTransport(),
            self.settings.send,
            self.tenants,
        )
        self._deliverer = Deliverer(self.db, self.clock, self._session)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
        await self._provider_client.close()

    @property
    def sender(self) -> Sender:
        assert self._sender is not None, "use the worker as `async with Worker(...)`"
        return self._sender

    @property
    def deliverer(self) -> Deliverer:
        assert self._deliverer is not None, "use the worker as `async with Worker(...)`"
        return self._deliverer

    # --- steps ----------------------------------------------------------------------------------

    async def handle_events(self) -> int:
        """Handles one batch of outbox events; returns how many."""
        now = self.clock()
        async with self.db.transaction() as conn:
            events = await outbox.claim(conn, now, self.settings.outbox_batch, self.tenants.only)
            for event in events:
                tenant = await self.tenants.get(conn, event.tenant_id)
                try:
                    async with conn.transaction():  # a savepoint: a failing handler undoes only itself
                        await handlers.handle(conn, tenant, event, now)
                except Exception as exc:
                    log.exception("handling event %s (%s) failed", event.id, event.type)
                    error = f"{type(exc).__name__}: {exc}"[:500]
                    if event.attempts + 1 >= self.settings.outbox_max_attempts:
                        await outbox.done(conn, event, now, error=error)
                    else:
                        delay = timedelta(seconds=min(600, 2 ** (event.attempts + 1)))
                        await outbox.failed(conn, event, now + delay, error)
                    continue
                await outbox.done(conn, event, now)
        return len(events)

    async def open_broadcasts(self) -> int:
        """Opens a broadcast whose time has come (its audience counted, cut into lanes for the
        senders), and marks sent those whose lanes are all done."""
        return await broadcasts.open_broadcasts(self.db, self.tenants, self.clock())

    async def send_messages(self) -> int:
        """One batch on each configured channel (in turns, so that no tenant starves); a channel
        held or booked ahead waits for a later pass. For tests and ``drain``: the process paces
        each channel on its own (``pace_channels``)."""
        async with self.db.connection() as conn:
            channels = await store.channels(conn, self.tenants.only, self.clock())
        if not channels:
            return 0
        self._channel_turn = (self._channel_turn + 1) % len(channels)
        ordered = channels[self._channel_turn :] + channels[: self._channel_turn]
        sent = 0
        for channel in ordered:
            handled, _ = await self.sender.send_batch(channel)
            sent += handled
        return sent

    async def pace_channels(self) -> int:
        """Starts a pacer for each channel with messages due that has none running (returns 0:
        the loop looks again after ``poll``). Each channel is paced by pacers of its own, so that
        a busy program's batches, each waiting for its slots, no longer take turns with a quiet
        one's: in one loop over every channel, a channel at a rate of 20 got 10 to 12 a second
        while another program sent at 50."""
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.settings.senders)
        async with self.db.connection() as conn:
            due = await store.channels(conn, self.tenants.only, self.clock())
        for channel in due:
            key = (int(channel["tenant_id"]), str(channel["channel"]))
            self._channels[key] = channel  # a pacer reads the latest settings before each batch
            for number in range(self.settings.senders):
                pacer = self._pacers.get((*key, number))
                if pacer is None or pacer.done():
                    self._pacers[(*key, number)] = asyncio.get_running_loop().create_task(self._pace(key))
        return 0

    async def _pace(self, key: tuple[int, str]) -> None:
        """Batch after batch of one channel, until none is due (or the worker stops)."""
        assert self._gate is not None
        try:
            while not self._stopping:
                async with self._gate:
                    handled, free_in = await self.sender.send_batch(self._channels[key])
                if free_in is not None:  # held by the provider or booked ahead: come back then
                    await asyncio.sleep(min(1.0, free_in))
                elif handled == 0:
                    return
        except Exception as exc:  # the next look at the channels starts it again
            log.exception("sending on channel %s of tenant %s failed", key[1], key[0])
            if isinstance(exc, psycopg.OperationalError):
                await self.db.recover()

    async def _stop_pacers(self, timeout: float) -> None:
        """Lets the pacers finish their batch (within ``timeout``), then cancels the rest."""
        self._stopping = True
        pacers = [pacer for pacer in self._pacers.values() if not pacer.done()]
        if not pacers:
            return
        _, late = await asyncio.wait(pacers, timeout=timeout)
        for pacer in late:
            pacer.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def deliver_webhooks(self) -> int:
        """Starts the due webhook deliveries there are places for (they run on by themselves)."""
        return await self.deliverer.deliver_due(self.tenants.only)

    async def deliver_webhooks_and_wait(self) -> int:
        started = await self.deliver_webhooks()
        await self.deliverer.settle()
        return started

    async def run_schedule(self, now: datetime | None = None) -> dict[str, int]:
        moment = now or self.clock()
        return {
            "birthdays": await schedule.birthdays(self.db, self.tenants, moment),
            "expiring": await self._expiring_points(moment),
            "tiers": await schedule.tier_checks(self.db, self.tenants, moment),
            "pruned": await schedule.prune(self.db, self.tenants, moment, self.settings.keep_days),
            "deliveries": await self._settle_deliveries(moment),
        }

    async def _expiring_points(self, moment: datetime) -> int:
        """A notice a week ahead loses nothing by waiting up to an hour, and each look reads every
        lot of the coming week: once an hour, not once a minute (``expiry_every``)."""
        if not look_due(self._expiry_looked_at, self.settings.expiry_every, moment):
            return 0
        self._expiry_looked_at = moment
        return await schedule.expiring_points(self.db, self.tenants, moment)

    async def _settle_deliveries(self, moment: datetime) -> int:
        """Deleted webhooks' deliveries fail on every run; the look for stranded ones, a safety net
        that reads every waiting delivery, runs at most every ``stranded_every`` seconds."""
        stranded = look_due(self._stranded_looked_at, self.settings.stranded_every, moment)
        if stranded:
            self._stranded_looked_at = moment
        return await schedule.settle_deliveries(self.db, self.tenants, moment, stranded=stranded)

    async def drain(self, *, rounds: int = 100) -> int:
        """Runs the steps until none finds work (messages and deliveries due later wait). For
        tests and one-off runs."""
        total = 0
        for _ in range(rounds):
            did = (
                await self.handle_events()
                + await self.open_broadcasts()
                + await self.send_messages()
                + await self.deliver_webhooks_and_wait()
            )
            total += did
            if did == 0:
                return total
        return total

    # --- the process ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """All loops until ``stop`` is set; each finishes its current step first, within
        ``stop_grace``. A step still running then is cancelled: one waiting for a database that is
        gone would otherwise hold the stop for the pool's whole timeout. Cancelling loses nothing
        (a step's work commits with its mark that it is done; a message sent but not yet marked is
        sent again with its id)."""
        poll = self.settings.poll
        loops = [
            self._loop("outbox", self.handle_events, stop, poll),
            self._loop("broadcasts", self.open_broadcasts, stop, poll),
            self._loop("webhooks", self.deliver_webhooks, stop, poll),
            self._loop("schedule", self._scheduled, stop, self.settings.schedule_every, always_wait=True),
        ]
        loops.append(self._loop("channels", self.pace_channels, stop, poll))
        tasks = [asyncio.ensure_future(loop) for loop in loops]
        clock = asyncio.get_running_loop()
        deadline = clock.time() + self.settings.stop_grace  # moved to the stop once it comes
        try:
            await stop.wait()
            self._stopping = True  # the pacers send no new batch
            deadline = clock.time() + self.settings.stop_grace
            _, late = await asyncio.wait(tasks, timeout=self.settings.stop_grace)
            if late:
                log.warning(
                    "%d worker steps still running %gs after the stop: cancelled",
                    len(late),
                    self.settings.stop_grace,
                )
        finally:  # also when run itself is cancelled: no loop outlives it
            for task in tasks:
                task.cancel()
            await self._stop_pacers(max(0.0, deadline - clock.time()))  # within the same grace
            await self.deliverer.settle(max(0.0, deadline - clock.time()))
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception):  # a loop catches its steps' errors: this is a bug
                raise outcome

    async def _scheduled(self) -> int:
        return sum((await self.run_schedule()).values())

    async def _loop(
        self,
        name: str,
        step: Callable[[], Awaitable[int]],
        stop: asyncio.Event,
        pause: float,
        *,
        always_wait: bool = False,
    ) -> None:
        failures = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                did = await step()
                failures = 0
            except Exception as exc:
                failures += 1
                log.exception("worker loop %s failed (%d in a row)", name, failures)
                did = 0
                if isinstance(exc, psycopg.OperationalError):  # the database restarted: test the rest
                    await self.db.recover()
                pause_now = min(30.0, pause * 2**failures)
            else:
                pause_now = pause if (did == 0 or always_wait) else 0.0
            if always_wait:
                pause_now = max(0.0, pause - (time.monotonic() - started))
            if pause_now > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause_now)
