"""Sending queued messages, never faster than a channel's rate across all worker processes.

One batch of one channel:
1. lock up to ``batch`` due messages (FOR UPDATE SKIP LOCKED, in a transaction held until the
   outcomes are written, so a killed worker's messages are simply due again); when none is due,
   take a page of a broadcast being sent instead (``broadcasts.take_page``: its lane is locked the
   same way, and its messages are written only in step 5, once, with their outcomes);
2. put off those in the member's quiet hours (to 09:00 local), fail those without consent, the
   ``points_expiring`` notices whose points all expired or were spent meanwhile, and the
   ``receipt`` messages of sales cancelled meanwhile;
3. reserve one send slot per message in the channel's bucket in PostgreSQL (a short statement
   on another connection): slots are ``1 / (rate × headroom)`` seconds apart on one time line
   shared by every process;
4. send each message at its slot; a slot missed by more than ``late_tolerance`` is given up
   and its message stays queued (sending it late would bunch it up with the next slots); the
   slot is counted from before the reservation was asked for, so a worker paused meanwhile gives
   its slots up too; so does a send that would wait for a connection (a slow provider already
   holds ``in_flight`` requests): it would leave late, bunched with later ones;
5. write the outcomes: ``sent``; or a retry after ``Retry-After`` or a growing backoff; or
   ``failed`` after ``max_attempts`` (a page's messages whose slot was given up are written
   queued, due at once);
6. a 429 (or a 503 with ``Retry-After``) slows the whole channel down, not only its message, as
   soon as it comes: this worker sends nothing more on it, the rest of the batch included, and
   the bucket frees no slot, for ``Retry-After`` seconds (1 second without one, ``retry_cap`` at
   most), so every worker stops once its booked slots are sent (new messages went on at the full
   rate into a provider saying stop).
Retries reuse the message id, so a provider can drop a repeat after a crash between its answer
and our commit."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from patron import clock as clocks
from patron.backoffice import broadcasts, rules, store
from patron.backoffice.broadcast_store import CANCELLED
from patron.backoffice.store import MessageUpdate, NewMessage
from patron.backoffice.tenancy import Tenants
from patron.backoffice.transports import Attempt, EmailTransport, SmsTransport
from patron.clock import Clock
from patron.db.pool import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendSettings:
    headroom: float = 0.9  # pace at this share of rate_per_second (network jitter never tips it over)
    horizon: float = 0.1  # seconds of a channel's time line one batch takes at most
    most: int = 200  # messages in one batch at most
    late_tolerance: float = 0.02  # seconds a send may be late for its slot
    max_ahead: float = 0.5  # do not reserve when the bucket is booked this far ahead
    retry_base: float = 1.0  # first retry after this many seconds, doubling
    retry_cap: float = 600.0
    max_attempts: int = 12
    unlimited_concurrency: int = 8  # sends at once on a channel with no rate
    in_flight: int = 100  # requests awaiting an answer at most (so, connections to the provider)
    tick: float = 0.01  # seconds of slots sent together (rules.group_size)


_LATE = Attempt(ok=False, error="late")
POINTS_GONE = "the points it announces expired or were spent before it could be sent"
RECEIPT_CANCELLED = "its sale was cancelled before it could be sent"
TIMER_RESOLUTION = 0.001  # seconds: the shortest sleep that waits on every event loop Patron runs


def _page_row(message: NewMessage, member: dict[str, Any]) -> dict[str, Any]:
    """A broadcast's message not yet written, as ``store.claim_messages`` answers a queued one."""
    return {
        "id": message.id,
        "ctid": None,
        "member_id": member["id"],
        "trigger": message.trigger,
        "subject": message.subject,
        "body": message.body,
        "timezone": message.timezone,
        "attempts": 0,
        "phone": member["phone"],
        "email": member["email"],
        "consent": True,  # the page holds only members who consented to the channel
        "cancelled": False,  # the page's lane was taken from a broadcast being sent
        "points_gone": False,
        "receipt_cancelled": False,
    }


def _written(message: NewMessage, update: MessageUpdate | None) -> NewMessage:
    """A broadcast's message with its outcome; one whose slot was missed is queued, due at once."""
    if update is None:
        return message
    return replace(
        message,
        status=update.status,
        attempts=update.tried,
        next_attempt_at=update.next_attempt_at,
        sent_at=update.sent_at,
        recipient=update.recipient,
        error=update.error,
    )


class Sender:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sms: SmsTransport,
        email: EmailTransport,
        settings: SendSettings | None = None,
        tenants: Tenants | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.sms = sms
        self.email = email
        self.settings = settings or SendSettings()
        self.tenants = tenants or Tenants()
        # at most ``in_flight`` requests unanswered: one started behind them, waiting for a slow
        # provider, would leave later, bunched with the next slots' requests
        self._in_flight = asyncio.Semaphore(self.settings.in_flight)
        # channels a provider asked to slow down: (tenant, channel) -> the loop's time it ends
        self._held: dict[tuple[int, str], float] = {}
        self._holding: set[asyncio.Task[None]] = set()

    async def send_batch(self, channel: dict[str, Any]) -> tuple[int, float | None]:
        """One batch of one channel: how many messages it handled (0: none was due), and, when
        the channel's time line is booked ahead, in how many seconds to come back."""
        cfg = self.settings
        tenant_id, name, rate = channel["tenant_id"], channel["channel"], channel["rate_per_second"]
        if rate is not None:
            async with self.db.connection() as conn:
                ahead = await store.bucket_ahead(conn, tenant_id, name)
            if ahead > cfg.max_ahead:
                # other batches booked the time line, or a provider said to slow down: come back
                # then, and meanwhile let the caller serve other channels (sleeping here held every
                # other tenant's channel of this sender too)
                return 0, ahead - cfg.max_ahead
        limit = rules.batch_size(rate, cfg.headroom, cfg.horizon, cfg.most)
        now = self.clock()
        # pipelined: BEGIN goes with the claim, and the outcomes' UPDATE with the COMMIT
        async with self.db.transaction(pipeline=True) as conn:
            rows = await store.claim_messages(conn, tenant_id, name, now, limit)
            page = None
            if not rows:  # nothing queued is due: the next members of a broadcast being sent
                page = await broadcasts.take_page(conn, self.tenants, tenant_id, name, limit)
                if page is None:
                    return 0, None
                rows = [_page_row(message, member) for message, member in page.ready]
            updates: list[MessageUpdate | None] = []
            ready: list[dict[str, Any]] = []
            for row in rows:
                if row["cancelled"]:  # its broadcast was cancelled while it waited for a retry
                    updates.append(MessageUpdate.of(row, "failed", 0, error=CANCELLED))
                    continue
                if row["points_gone"]:  # a notice held past its points' expiry tells of nothing
                    updates.append(MessageUpdate.of(row, "failed", 0, error=POINTS_GONE))
                    continue
                if row["receipt_cancelled"]:  # its points and the balance it tells of were taken back
                    updates.append(MessageUpdate.of(row, "failed", 0, error=RECEIPT_CANCELLED))
                    continue
                recipient = row["phone"] if name == "sms" else row["email"]
                if not row["consent"] or not recipient:
                    error = "no consent for this channel" if not row["consent"] else "no address"
                    updates.append(MessageUpdate.of(row, "failed", 0, error=error))
                    continue
                wait = rules.quiet_until(now, clocks.zone(row["timezone"]))
                if wait is not None:
                    updates.append(MessageUpdate.of(row, "queued", 0, next_attempt_at=wait))
                    continue
                ready.append({**row, "recipient": recipient})
            if ready:
                attempts = await self._send_all(tenant_id, name, channel["settings"], rate, ready)
                done = self.clock()
                updates.extend(
                    self._outcome(row, attempt, done) for row, attempt in zip(ready, attempts, strict=True)
                )
            if page is None:
                await store.update_messages(conn, [u for u in updates if u is not None])
                return len(rows), None
            outcomes = {u.id: u for u in updates if u is not None}
            written = [_written(message, outcomes.get(str(message.id))) for message, _ in page.ready]
            await broadcasts.record_page(conn, page, page.failed + written, now)
        return max(1, len(page.ready) + len(page.failed)), None  # a page of no one still moved its lane on

    def _slow_down(self, tenant_id: int, channel: str, attempt: Attempt) -> None:
        """A provider's "slow down" (429, or 503 with Retry-After), at once: this worker sends
        nothing more on the channel for ``Retry-After`` seconds (1 without one, an invalid one
        too), and the channel's bucket is held for every worker. Waiting for the batch's last
        answer first let dozens more out at the full rate."""
        if not (attempt.status == 429 or (attempt.status == 503 and attempt.retry_after is not None)):
            return
        wait = min(1.0 if attempt.retry_after is None else attempt.retry_after, self.settings.retry_cap)
        if wait <= 0:
            return
        key = (tenant_id, channel)
        until = asyncio.get_running_loop().time() + wait
        if self._held.get(key, 0.0) >= until:
            return
        self._held[key] = until
        task = asyncio.get_running_loop().create_task(self._hold(tenant_id, channel, wait))
        self._holding.add(task)
        task.add_done_callback(self._holding.discard)

    async def _hold(self, tenant_id: int, channel: str, wait: float) -> None:
        try:
            async with self.db.connection() as conn:
                await store.hold_bucket(conn, tenant_id, channel, wait)
        except Exception:  # the database away: this worker holds on by itself meanwhile
            log.exception("holding channel %s of tenant %s failed", channel, tenant_id)

    def _outcome(self, row: dict[str, Any], attempt: Attempt, now: datetime) -> MessageUpdate | None:
        cfg = self.settings
        if attempt is _LATE:
            return None
        if attempt.ok:
            return MessageUpdate.of(row, "sent", 1, sent_at=now, recipient=row["recipient"])
        tries = row["attempts"] + 1
        error = (attempt.error or "failed")[:500]
        if attempt.permanent or tries >= cfg.max_attempts:
            return MessageUpdate.of(row, "failed", 1, recipient=row["recipient"], error=error)
        # Retry-After is honoured as a least wait: taken alone, "1" every time used up a message's
        # attempts in 12 seconds of a provider's throttling, where other errors take half an hour.
        delay = max(attempt.retry_after or 0.0, rules.message_backoff(tries, cfg.retry_base, cfg.retry_cap))
        return MessageUpdate.of(row, "queued", 1, next_attempt_at=now + timedelta(seconds=delay), error=error)

    async def _send_all(
        self,
        tenant_id: int,
        channel: str,
        settings: dict[str, Any],
        rate: float | None,
        rows: list[dict[str, Any]],
    ) -> list[Attempt]:
        loop = asyncio.get_running_loop()
        if rate is None:
            gate = asyncio.Semaphore(self.settings.unlimited_concurrency)

            async def at_once(row: dict[str, Any]) -> Attempt:
                async with gate:
                    return await self._send_one(channel, settings, row)

            return list(await asyncio.gather(*(at_once(row) for row in rows)))
        spacing = rules.slot_spacing(rate, self.settings.headroom)
        group = rules.group_size(rate, self.settings.headroom, self.settings.tick)
        # The database places the slots on the shared time line at some moment between ``asked``
        # and ``answered``. Sending from ``answered`` on is never early; judging lateness from
        # ``asked`` is never lenient. A worker paused in between (a busy machine, a stalled event
        # loop, SIGSTOP) so gives its slots up rather than send them on top of another's.
        asked = loop.time()
        async with self.db.connection() as conn:
            start_in = await store.reserve_slots(
                conn, tenant_id, channel, spacing * len(rows), self.settings.max_ahead
            )
        if start_in is None:  # another batch booked the time line meanwhile: these wait their turn
            return [_LATE] * len(rows)
        answered = loop.time()
        tolerance = self.settings.late_tolerance
        groups = await asyncio.gather(
            *(
                self._send_group(
                    answered + start_in + first * spacing,
                    asked + start_in + first * spacing + tolerance,
                    tenant_id,
                    channel,
                    settings,
                    rows[first : first + group],
                )
                for first in range(0, len(rows), group)
            )
        )
        return [attempt for attempts in groups for attempt in attempts]

    async def _send_group(
        self,
        slot: float,
        latest: float,
        tenant_id: int,
        channel: str,
        settings: dict[str, Any],
        rows: list[dict[str, Any]],
    ) -> list[Attempt]:
        """Sends ``rows`` together at ``slot``, unless that is already after ``latest``; a row is
        given up when the provider still has ``in_flight`` requests of this worker unanswered.
        One timer for the group, not one a message: at 1,000 a second the timers cost more than
        the sends."""
        loop = asyncio.get_running_loop()
        while (delay := slot - loop.time()) > 0:
            # uvloop's timers count whole milliseconds: a shorter sleep returns at once, so waiting
            # out a slot's last fraction of a millisecond that way spins (measured: hundreds of
            # wake-ups a message, a worker's core kept busy). A whole one instead: the send is
            # late by under a millisecond, well within ``late_tolerance``, and never early.
            await asyncio.sleep(max(delay, TIMER_RESOLUTION))
        if loop.time() > latest or self._held.get((tenant_id, channel), 0.0) > loop.time():
            return [_LATE] * len(rows)  # late, or the provider said to slow down: they wait
        sends: list[asyncio.Future[Attempt] | None] = []
        for row in rows:
            if self._in_flight.locked():
                sends.append(None)
                continue
            await self._in_flight.acquire()  # free, so it does not wait: no other send slips in
            sends.append(asyncio.ensure_future(self._send_holding(tenant_id, channel, settings, row)))
        return [_LATE if send is None else await send for send in sends]

    async def _send_holding(
        self, tenant_id: int, channel: str, settings: dict[str, Any], row: dict[str, Any]
    ) -> Attempt:
        """Sends one message, then frees the ``in_flight`` place its caller took for it."""
        try:
            attempt = await self._send_one(channel, settings, row)
        finally:
            self._in_flight.release()
        self._slow_down(tenant_id, channel, attempt)
        return attempt

    async def _send_one(self, channel: str, settings: dict[str, Any], row: dict[str, Any]) -> Attempt:
        try:
            if channel == "sms":
                return await self.sms.send(settings, row["id"], row["recipient"], row["body"], self.clock())
            return await self.email.send(settings, row["id"], row["recipient"], row["subject"], row["body"])
        except Exception as exc:  # a bug in a transport must not lose the batch's other outcomes
            log.exception("sending message %s failed unexpectedly", row["id"])
            return Attempt(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
